"""What loading a model raises."""


class ModelNotAvailableError(RuntimeError):
    """The model cannot be loaded here (not cached offline, missing folder, unknown name)."""


class UnsafeCheckpointError(RuntimeError):
    """Only pickle checkpoints were found and ``allow_pickle=True`` was not given."""


class BrokenTokenizerError(ModelNotAvailableError):
    """The tokenizer loaded with a tiny vocabulary: its files are missing or incomplete."""
