"""Writes one small training curve as TensorBoard events, the way another trainer would.

Usage: python3 tests/write_tb.py WRITER DIR

WRITER is one of
  torch        PyTorch's torch.utils.tensorboard.SummaryWriter, tags Loss/train and Loss/val
               (scalars stored as `simple_value`);
  tensorboard  TensorBoard's own tensorboard.summary.Writer, tags train_loss and val_loss
               (scalars stored as float tensors, as TensorFlow 2 does);
  keras        the layout Keras's TensorBoard callback makes: DIR/train and DIR/validation,
               both with the tag epoch_loss.

The curve (nats per token) falls, then its validation loss turns up from step 300 on while
the training loss keeps falling: perplex calls it overfitting at step 500.
"""

import sys

TRAIN = [(0, 9.2), (100, 6.0), (200, 5.0), (300, 4.2), (400, 3.6), (500, 3.1)]
VAL = [(100, 6.1), (200, 5.3), (300, 5.2), (400, 5.4), (500, 5.8)]


def with_torch(out):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(out)
    for step, loss in TRAIN:
        writer.add_scalar("Loss/train", loss, step)
    for step, loss in VAL:
        writer.add_scalar("Loss/val", loss, step)
    writer.close()


def with_tensorboard(out, train_tag="train_loss", val_tag="val_loss", split=False):
    from tensorboard.summary import Writer

    train = Writer(f"{out}/train" if split else out)
    val = Writer(f"{out}/validation") if split else train
    for step, loss in TRAIN:
        train.add_scalar(train_tag, loss, step)
    for step, loss in VAL:
        val.add_scalar(val_tag, loss, step)
    train.close()
    if split:
        val.close()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    writer, out = sys.argv[1:]
    if writer == "torch":
        with_torch(out)
    elif writer == "tensorboard":
        with_tensorboard(out)
    elif writer == "keras":
        with_tensorboard(out, "epoch_loss", "epoch_loss", split=True)
    else:
        sys.exit(f"unknown writer {writer!r}\n{__doc__}")


if __name__ == "__main__":
    main()
