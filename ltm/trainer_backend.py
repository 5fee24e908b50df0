"""peft + trl wiring: LoraConfig, SFTConfig and the callbacks that feed ltm's progress bar,
loss history, token counts and MLflow. Kept apart from `train.py` so that the data path
(what is trained on) and the engine (how) can be read separately."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .basemodel import quiet_bitsandbytes
from .recipe import warmup_steps

quiet_bitsandbytes()  # trl imports bitsandbytes, whose CPU backend logs a harmless hub-kernel miss


@dataclass
class TrainStats:
    """Filled in while training; read by the manifest."""

    losses: list[float] = field(default_factory=list)
    collated: int = 0
    padding: int = 0
    steps: int = 0
    advance: object = None


def _checkpointing_arg() -> str:
    """transformers ≥ 5.2 renamed `gradient_checkpointing` to `activation_checkpointing`."""
    import dataclasses

    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def lora_config(tc):
    from peft import LoraConfig

    return LoraConfig(
        r=tc.rank,
        lora_alpha=tc.alpha,
        lora_dropout=tc.dropout,
        target_modules=tc.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def build_trainer(config, model, tokenizer, blocks: list[list[int]], output_dir: Path, steps: int,
                  mlflow_client=None, run_id=None):
    """An SFTTrainer over pre-packed token blocks; returns (trainer, stats)."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    tc = config.training
    on_cuda = torch.cuda.is_available()
    checkpointing = _checkpointing_arg()
    bf16 = on_cuda and (config.base.dtype in ("auto", "bf16"))
    args = SFTConfig(
        output_dir=str(output_dir),
        max_length=tc.max_length,
        packing=False,  # blocks are packed already, with every token kept
        logging_nan_inf_filter=False,  # the default hides NaN/inf losses; ltm stops on them
        per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.grad_accum,
        learning_rate=tc.learning_rate,
        lr_scheduler_type=tc.lr_scheduler,
        warmup_steps=warmup_steps(steps, tc),  # ltm/recipe.py: the ratio, with a floor
        weight_decay=tc.weight_decay,
        max_steps=steps,
        **{checkpointing: tc.gradient_checkpointing},
        seed=tc.seed,
        data_seed=tc.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        bf16=bf16,
        fp16=on_cuda and config.base.dtype == "fp16",
        use_cpu=not on_cuda,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",  # counted per consumed batch, summed over GPUs
    )
    stats = TrainStats()
    documents = bool(blocks) and getattr(blocks[0], "lengths", None) is not None
    columns = {"input_ids": [list(b) for b in blocks]}
    if documents:
        columns["seq_lengths"] = [list(b.lengths) for b in blocks]
    dataset = Dataset.from_dict(columns)

    class Counting(TrainerCallback):
        """Forwards each step's loss to the stats, the progress bar and MLflow (logging_steps=1)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                stats.losses.append(float(logs["loss"]))
                if not math.isfinite(stats.losses[-1]):
                    control.should_training_stop = True  # a NaN/inf loss never recovers: stop now, not after the last step
                if stats.advance is not None:
                    stats.advance(1, loss=stats.losses[-1])
                if mlflow_client is not None:
                    from . import tracking

                    tracking.log_metrics(mlflow_client, run_id, {"loss": logs["loss"],
                                                                  "learning_rate": logs.get("learning_rate", 0.0)},
                                         step=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            stats.steps = state.global_step

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(tc),
        callbacks=[Counting()],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log dict; our bar shows the loss
    collator = trainer.data_collator

    def counting(examples, batch):
        # Padding share only: the loader may collate one batch ahead, so the trained-token
        # count comes from the trainer's own `num_input_tokens_seen` instead.
        real = sum(len(e["input_ids"]) for e in examples)
        stats.collated += real
        stats.padding += int(batch["input_ids"].numel()) - real
        return batch

    if documents:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        trainer.data_collator = lambda examples: counting(examples, documents_batch(examples, pad_id))
    else:
        trainer.data_collator = lambda examples: counting(examples, collator(examples))
    return trainer, stats


def documents_batch(examples: list[dict], pad_id: int) -> dict:
    """A batch of blocks holding several documents each (`training.documents`).

    Positions restart at 0 with every document, and there is no attention mask: from such
    position ids transformers builds a mask that keeps each document's attention to itself,
    under eager and sdpa at any batch size (tests/test_attention_impl.py: a packed document's
    logits equal its logits alone); flash_attention_2 reads the positions only in a batch of one
    row, so config refuses it otherwise (basemodel.attention_problem). That path needs the model to run without a KV cache, hence `use_cache=False`. The
    first token of a document is not a target (nothing before it is its context); padding
    at a row's end is a document of its own with no targets.
    """
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    positions = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        ids = torch.tensor(example["input_ids"], dtype=torch.long)
        input_ids[row, :len(ids)] = ids
        labels[row, :len(ids)] = ids
        start = 0
        for length in [*example["seq_lengths"], width - len(ids)]:
            positions[row, start:start + length] = torch.arange(length)
            if length:
                labels[row, start] = -100
            start += length
    return {"input_ids": input_ids, "labels": labels, "position_ids": positions, "use_cache": False}
