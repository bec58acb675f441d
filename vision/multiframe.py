"""Multi-frame reading: vote across frames, stop as soon as the combined confidence is enough.

Each frame's reading is a vote for its plate, weighted by its confidence. Frames whose plate has the same
length also vote per character position (summing the per-character probabilities), which repairs a
character misread in one frame. The combined confidence of the leading plate is that of its most
confident frame, scaled by its share of all the weight: a disagreeing frame pulls it down, agreeing frames
do not add up. The frames come from a car standing at the loop in front of a fixed camera, so a reading that
is wrong is wrong the same way frame after frame; treating them as independent (``1 - prod(1 - c_i)``, the
rule until the ninth session) made five frames at 0.6 a 0.99. Measured with ``lajur bench binding`` (frames
of a still car: one photograph with sensor noise and a pixel of shake), at the lane's 0.9 on the test
photographs: that rule bound 6 of 100 plates wrongly (US 4 of 74, Indonesian crops 2 of 26); the most
confident frame binds 3 of 96 wrongly (US 3 of 73, each one frame alone reading D as 0 or 1 as I at
0.92-0.94; Indonesian 0 of 23), and the same as before on rendered lane cars and on the dev photographs.
A plate is bound only when one frame alone was confident. Low confidence after ``max_frames`` means: ask
the officer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vision.grammar import PlateFormat, canonical
from vision.reader import PlateReading


@dataclass
class VoteResult:
    plate: str | None
    confidence: float
    frames: int
    done: bool  # confident enough, or out of frames
    needs_officer: bool


@dataclass
class FrameVoter:
    min_confidence: float = 0.9
    max_frames: int = 8
    format: PlateFormat | str = PlateFormat.ID
    _readings: list[PlateReading] = field(default_factory=list)
    frames: int = 0

    def add(self, reading: PlateReading) -> VoteResult:
        """Add one frame's reading; returns the current combined result (``done`` when it can stop)."""
        self.frames += 1
        if reading.plate:
            self._readings.append(reading)
        return self.result()

    def result(self) -> VoteResult:
        plate, conf = self._combine()
        done = (plate is not None and conf >= self.min_confidence) or self.frames >= self.max_frames
        needs_officer = done and (plate is None or conf < self.min_confidence)
        return VoteResult(plate, conf, self.frames, done, needs_officer)

    @property
    def done(self) -> bool:
        return self.result().done

    def _combine(self) -> tuple[str | None, float]:
        if not self._readings:
            return None, 0.0
        fmt = PlateFormat(self.format)
        weights: dict[str, float] = {}
        for r in self._readings:
            key = canonical(r.plate, fmt)
            weights[key] = weights.get(key, 0.0) + max(1e-3, r.confidence)
        total = sum(weights.values())
        lead = max(weights, key=lambda k: weights[k])
        # per-character vote among same-length readings (fixes one misread character in one frame)
        same = [r for r in self._readings if r.plate and len(canonical(r.plate, fmt)) == len(lead)]
        if len(same) >= 3:
            chars = []
            for i in range(len(lead)):
                votes: dict[str, float] = {}
                for r in same:
                    ch = canonical(r.plate, fmt)[i]
                    cc = r.char_confidences[i] if i < len(r.char_confidences) else r.confidence
                    votes[ch] = votes.get(ch, 0.0) + cc
                chars.append(max(votes, key=lambda k: votes[k]))
            voted = "".join(chars)
            if voted != lead and voted in weights:
                lead = voted
        agreeing = [r for r in self._readings if canonical(r.plate, fmt) == lead]
        # frames of one standing car repeat the same evidence (and a disputed reading the same mistake): the
        # most confident of them is the plate's confidence, never their sum
        combined = max(r.confidence for r in agreeing)
        return lead, combined * (weights[lead] / total)
