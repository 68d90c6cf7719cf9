# bridge: one image for the bridge and the simulators.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY adapters ./adapters
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bridge
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER bridge
WORKDIR /home/bridge
ENV BRIDGE_HTTP_HOST=0.0.0.0 BRIDGE_MLLP_HOST=0.0.0.0
EXPOSE 8080 2575
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status==200 else 1)"
ENTRYPOINT ["bridge"]
CMD ["serve"]
