#!/bin/sh
set -eu
{
  echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
  echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
} > /etc/rabbitmq/conf.d/10-defaults.conf
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
exec rabbitmq-server
