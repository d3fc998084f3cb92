"""The network and optimizer of a recipe: the model built from its seed, the learning-rate
schedule (constant, cosine with warm-up, plateau), Adam / AdamW / SGD / RMSprop, compiled
under the precision policy inside the strategy's scope, and exported as float32."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blurlib.errors import BlurlibError
from blurlib.training.config import OPTIMIZERS, SCHEDULES, TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import keras

Export = Callable[[Path], None]


def learning_rate(config: TrainConfig, steps: int) -> Any:
    """Return the learning rate of ``config``: a float, or a schedule over ``steps``/epoch."""
    import keras

    if config.schedule not in SCHEDULES:
        raise BlurlibError(
            f"unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}"
        )
    if config.schedule != "cosine":
        return config.lr
    total = max(1, steps * config.epochs)
    warm = round(config.warmup_epochs * steps)
    warm = min(warm, total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr if warm == 0 else config.lr * 0.01,
        decay_steps=total - warm,
        alpha=0.01,
        warmup_target=config.lr if warm else None,
        warmup_steps=warm,
    )


def make_optimizer(config: TrainConfig, steps: int) -> Any:
    """Return the Keras optimizer of ``config`` with its learning-rate schedule."""
    import keras

    lr = learning_rate(config, steps)
    name = config.optimizer.lower()
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=config.weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    raise BlurlibError(f"unknown optimizer {config.optimizer!r}; choose {', '.join(OPTIMIZERS)}")


def build_net(config: TrainConfig, seed: int) -> keras.Model:
    """Return the network of ``config``, its weights drawn from ``seed``."""
    from blurlib.nets.builders import build_model

    kwargs: dict[str, Any] = {"seed": seed}
    if config.dropout is not None:
        kwargs["dropout"] = config.dropout
    if config.width is not None:
        kwargs["width"] = config.width
    if config.defocus_class > 0:
        kwargs["classes"] = 3
    try:
        return build_model(config.model, **kwargs)
    except ValueError as exc:
        raise BlurlibError(str(exc)) from exc


def compile_net(
    config: TrainConfig, seed: int, strategy: Any, precision: str, jit: bool, steps: int
) -> tuple[keras.Model, Export]:
    """Return the network compiled under the ``precision`` policy in ``strategy``'s scope,
    and a function saving it as a float32 model (which loads and runs anywhere; a net
    trained with a defocus class is saved as the binary detector it makes)."""
    import keras

    from blurlib.nets.builders import compile_model, motion_vs_rest
    from blurlib.nets.files import save_model as save_net

    def save_model(net: keras.Model, path: Path) -> None:
        """Save the detector: a three-way net's classes merged into motion vs the rest."""
        save_net(motion_vs_rest(net) if config.defocus_class > 0 else net, path)

    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with strategy.scope():
            net = build_net(config, seed)
            compile_model(net, optimizer=make_optimizer(config, steps), jit_compile=jit)
    finally:
        keras.config.set_dtype_policy(previous_policy)

    if precision == "float32":
        return net, lambda path: save_model(net, path)
    twin = build_net(config, seed)

    def export(path: Path) -> None:
        twin.set_weights(net.get_weights())
        save_model(twin, path)

    return net, export


def model_size(net: keras.Model) -> dict[str, int]:
    """Return the parameters and FLOPs per patch of ``net``, for train_config.json."""
    from blurlib.nets.flops import count_flops, count_params

    return {
        "model_params": count_params(net),
        "model_flops_per_patch": count_flops(net),
    }
