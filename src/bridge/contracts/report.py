"""The verification report: one line per check, the reasons under each failure, a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    PASSED = "PASS"
    FAILED = "FAIL"
    PENDING = "PEND"


@dataclass(frozen=True)
class Check:
    """One interaction or example: what was checked, the outcome, and why it failed."""

    contract: str
    name: str
    outcome: Outcome
    problems: tuple[str, ...] = ()


@dataclass
class Report:
    interface: str
    title: str
    target: str
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Passed: no failed check, no error, and at least one check ran."""
        failed = any(check.outcome is Outcome.FAILED for check in self.checks)
        return not failed and not self.errors and bool(self.checks)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for check in self.checks if check.outcome is outcome)

    def render(self) -> str:
        lines = [
            f"Contract verification: {self.interface} — {self.title}",
            f"Provider under test: {self.target}",
            "",
        ]
        for check in self.checks:
            lines.append(f"  {check.outcome.value}  {check.name}  [{check.contract}]")
            lines.extend(f"          - {problem}" for problem in check.problems)
        lines.extend(f"  ERROR {error}" for error in self.errors)
        if not self.checks and not self.errors:
            lines.append("  ERROR no contract applies to this interface")
        passed, failed = self.count(Outcome.PASSED), self.count(Outcome.FAILED)
        pending = self.count(Outcome.PENDING)
        lines += [
            "",
            f"{len(self.checks)} checks: {passed} passed, {failed} failed, {pending} pending"
            " (pending: a new expectation, reported but not yet required)",
            f"RESULT: {'PASSED' if self.ok else 'FAILED'}",
        ]
        return "\n".join(lines)
