"""What a measurement produces: figures (fleet beside baseline, per repetition) and their targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bench.stats import median, paired_ratios


@dataclass(frozen=True)
class Target:
    """`absolute`: the fleet's median against `value`; `ratio`: the median fleet÷baseline ratio."""

    kind: Literal["absolute", "ratio"]
    op: Literal[">=", "<="]
    value: float

    def check(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.value if self.op == ">=" else value <= self.value

    def text(self, unit: str) -> str:
        if self.kind == "ratio":
            text = f"ratio {self.op} {self.value:g}x"
        else:
            text = f"{self.op} {self.value:,.0f} {unit}"
        return text.replace(">=", "≥").replace("<=", "≤")


@dataclass
class Figure:
    name: str
    unit: str
    better: Literal["higher", "lower"]
    fleet: list[float | None] = field(default_factory=list)
    baseline: list[float | None] = field(default_factory=list)
    target: Target | None = None
    baseline_name: str = ""

    def add(self, fleet: float | None, baseline: float | None) -> None:
        self.fleet.append(fleet)
        self.baseline.append(baseline)

    @property
    def ratios(self) -> list[float | None]:
        return paired_ratios(self.fleet, self.baseline)

    @property
    def fleet_median(self) -> float | None:
        return median([value for value in self.fleet if value is not None])

    @property
    def baseline_median(self) -> float | None:
        return median([value for value in self.baseline if value is not None])

    @property
    def ratio_median(self) -> float | None:
        return median([value for value in self.ratios if value is not None])

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        value = self.ratio_median if self.target.kind == "ratio" else self.fleet_median
        return self.target.check(value)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        target = data.get("target")
        return cls(
            name=data["name"],
            unit=data["unit"],
            better=data["better"],
            fleet=list(data["fleet"]["runs"]),
            baseline=list(data["baseline"]["runs"]),
            target=None if target is None else Target(target["kind"], target["op"], target["value"]),
            baseline_name=data.get("baseline_name", ""),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "better": self.better,
            "baseline_name": self.baseline_name,
            "fleet": {"median": _round(self.fleet_median), "runs": [_round(value) for value in self.fleet]},
            "baseline": {
                "median": _round(self.baseline_median),
                "runs": [_round(value) for value in self.baseline],
            },
            "ratio": {"median": _round(self.ratio_median), "runs": [_round(value) for value in self.ratios]},
            "target": None
            if self.target is None
            else {
                "kind": self.target.kind,
                "op": self.target.op,
                "value": self.target.value,
                "text": self.target.text(self.unit),
            },
            "met": self.met,
        }


@dataclass
class Metric:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        return cls(
            key=data["key"],
            title=data["title"],
            figures=[Figure.from_dict(figure) for figure in data["figures"]],
            details=data.get("details", {}),
            notes=list(data.get("notes", [])),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
        )

    def figure(self, name: str) -> Figure:
        return next(figure for figure in self.figures if figure.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "figures": [figure.as_dict() for figure in self.figures],
            "notes": self.notes,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "details": self.details,
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)
