"""Where each extractive QA task's data comes from, declared once: its local file names, its hub
dataset and the readers of both. The config (``data.<task>``), its checks, the workflow's inputs
and the tokenise job all derive from :data:`QA_DATASETS`.

* ``squad``: SQuAD v1.1 (Rajpurkar et al., 2016), :mod:`bertq.data.squad`;
* ``tydiqa``: TyDi QA GoldP (Clark et al., 2020), :mod:`bertq.data.tydiqa`;
* ``nq``: Natural Questions in MRQA 2019's format (Fisch et al., 2019), :mod:`bertq.data.mrqa`.

El-Kurdi et al. (2022, Table 2) quantize XLM-R on TyDi QA and NQ besides SQuAD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .mrqa import NQ_FILES, load_mrqa_hub, read_mrqa
from .squad import SQUAD_FILES, SquadExample, load_split, load_squad_hub, read_squad
from .tydiqa import TYDIQA_FILES, load_tydiqa_hub, read_tydiqa

__all__ = ["QA_DATASETS", "QADataset", "load_qa"]


@dataclass(frozen=True)
class QADataset:
    task: str
    """The task's name in the config."""
    title: str
    """How messages name it."""
    files: dict[str, tuple[str, ...]]
    """``train``/``dev`` -> the split's file in a local directory; of several names, the first
    that exists is read."""
    hub_dataset: str
    """The default ``data.<task>.hub_dataset``."""
    read: Callable[[Path], list[SquadExample]]
    """Reads one local file."""
    load_hub: Callable[[str, str], list[SquadExample]]
    """``(split, dataset_id) -> examples`` from the hub."""

    def local_file(self, data_dir: str | Path, split: str) -> Path | None:
        """The split's file in ``data_dir``, or ``None`` when no candidate name exists."""
        return next((Path(data_dir) / n for n in self.files[split] if (Path(data_dir) / n).is_file()), None)

    def file_names(self, split: str) -> str:
        return " or ".join(self.files[split])

    def load(
        self,
        split: str,
        *,
        data_dir: str | Path | None = None,
        hub_dataset: str | None = None,
        split_mode: str = "official",
        dev_fraction: float = 0.2,
        split_seed: int = 0,
    ) -> list[SquadExample]:
        """The ``train`` or ``dev`` examples from ``data_dir`` or, when it is ``None``, the hub
        (``hub_dataset``, by default :attr:`hub_dataset`); ``split_mode`` as
        :data:`bertq.data.squad.SPLIT_MODES`."""

        def read(which: str) -> list[SquadExample]:
            if data_dir is None:
                return self.load_hub(which, hub_dataset or self.hub_dataset)
            found = self.local_file(data_dir, which)
            return self.read(found if found is not None else Path(data_dir) / self.files[which][0])

        return load_split(read, split, self.task, split_mode, dev_fraction, split_seed)


QA_DATASETS: dict[str, QADataset] = {
    d.task: d
    for d in (
        QADataset(
            "squad",
            "SQuAD v1.1",
            {k: (v,) for k, v in SQUAD_FILES.items()},
            "rajpurkar/squad",
            read_squad,
            load_squad_hub,
        ),
        QADataset(
            "tydiqa",
            "TyDi QA GoldP",
            {k: (v,) for k, v in TYDIQA_FILES.items()},
            "google-research-datasets/tydiqa",
            read_tydiqa,
            load_tydiqa_hub,
        ),
        QADataset("nq", "Natural Questions (MRQA)", NQ_FILES, "mrqa-workshop/mrqa", read_mrqa, load_mrqa_hub),
    )
}


def load_qa(task: str, split: str, **source) -> list[SquadExample]:
    """``QA_DATASETS[task].load(split, **source)``."""
    return QA_DATASETS[task].load(split, **source)
