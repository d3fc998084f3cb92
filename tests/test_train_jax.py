"""blurlib.training on the JAX backend (the path a GPU machine without TensorFlow takes):
numpy batches, exact resume, data parallel over two devices, and the saved model loading
back under TensorFlow. Runs in a subprocess with KERAS_BACKEND=jax and two host devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from blurlib.training.pipeline import augment_array

ROOT = Path(__file__).resolve().parent.parent


def test_augment_array_gives_the_8_symmetries():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 6, 6, 3), dtype=np.uint8)
    out = augment_array(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for a, b in zip(x, out, strict=True):
        variants = [np.rot90(a, k) for k in range(4)] + [np.rot90(a[:, ::-1], k) for k in range(4)]
        matches = [k for k, v in enumerate(variants) if np.array_equal(v, b)]
        assert matches, "not a flip/rotation of its input"
        seen.add(matches[0])
    assert len(seen) == 8  # all 8 drawn over 64 patches
    np.testing.assert_array_equal(out, augment_array(x, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="square"):
        augment_array(x[:, :, :5], rng)


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from blurlib.training.config import PRESETS
    from blurlib.training.devices import choose_strategy
    from blurlib.training.fit import fit
    from blurlib.nets.files import load_model
    from blurlib.training.pipeline import make_dataset

    data, out = sys.argv[1], sys.argv[2]
    res = {"backend": keras.backend.backend()}

    # batches are a pure function of (seed, epoch, index)
    X = np.arange(10 * 4 * 4 * 3, dtype=np.uint8).reshape(10, 4, 4, 3)
    y = np.arange(10, dtype=np.uint8) % 2
    ds = make_dataset(X, y, 4, shuffle=True, augment=True, seed=3, drop_remainder=True,
                            epochs=3, start_epoch=1)
    again = make_dataset(X, y, 4, shuffle=True, augment=True, seed=3,
                               drop_remainder=True, epochs=3, start_epoch=0)
    res["len"] = len(ds)
    res["resume_batches_equal"] = all(
        np.array_equal(ds[i][0], again[i + 2][0]) for i in range(len(ds)))
    res["epoch_orders_differ"] = not np.array_equal(again[0][1], again[2][1]) or not \\
        np.array_equal(again[0][0], again[2][0])
    xb, yb = ds[0]
    res["dtypes"] = [str(xb.dtype), str(yb.dtype)]

    cfg = PRESETS["quick"].replace(width=8, batch_size=16, epochs=3, min_texture=0.0,
                                         tensorboard=False, dropout=0.2)
    strategy = choose_strategy("auto")
    whole = fit(cfg, data, out + "/whole", seed=1, verbose=0, strategy=strategy)

    class Stop(Exception):
        pass

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise Stop

    try:
        fit(cfg, data, out + "/cut", seed=1, verbose=0, strategy=strategy,
                  callbacks=[Interrupt()])
    except Stop:
        pass
    resumed = fit(cfg, data, out + "/cut", seed=1, verbose=0, strategy=strategy)
    res["whole_loss"] = whole.history["loss"]
    res["resumed_loss"] = resumed.history["loss"]
    res["initial_epoch"] = resumed.initial_epoch
    res["max_weight_diff"] = max(
        float(np.abs(a - b).max())
        for a, b in zip(load_model(whole.model_path).get_weights(),
                        load_model(resumed.model_path).get_weights()))
    res["single"] = {"strategy": whole.strategy, "replicas": whole.replicas,
                     "jit": whole.jit_compile, "devices": whole.info["devices"],
                     "backend": whole.info["machine"]["keras_backend"]}

    probe = np.random.default_rng(0).integers(0, 256, (8, 30, 30, 3)).astype(np.float32)
    np.save(out + "/probe.npy", probe)
    np.save(out + "/probe_jax.npy", load_model(whole.model_path).predict(probe, verbose=0))
    res["model"] = str(whole.model_path)

    mirrored = choose_strategy("mirrored")
    two = fit(cfg.replace(epochs=1, dropout=None), data, out + "/two", seed=1,
                    verbose=0, strategy=mirrored)
    res["mirrored"] = {"replicas": two.replicas, "devices": two.info["devices"],
                       "global_batch": two.info["global_batch_size"],
                       "loss": two.history["loss"]}
    try:
        choose_strategy("multiworker")
    except Exception as e:
        res["multiworker_error"] = str(e)
    print("RESULT", json.dumps(res))
    """
)


@pytest.mark.slow
def test_fit_on_jax_resumes_exactly_and_runs_data_parallel(tiny_dataset, tmp_path):
    pytest.importorskip("jax")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_dataset), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    assert res["backend"] == "jax"
    assert res["len"] == 4 and res["resume_batches_equal"] and res["epoch_orders_differ"]
    assert res["dtypes"] == ["float32", "int32"]
    # interrupted after 2 epochs and resumed: the same run as an uninterrupted one
    assert res["initial_epoch"] == 2
    np.testing.assert_allclose(res["resumed_loss"], res["whole_loss"][2:], rtol=1e-4)
    assert res["max_weight_diff"] < 1e-4
    assert res["single"] == {
        "strategy": "PortableStrategy",
        "replicas": 1,
        "jit": True,
        "devices": ["cpu:0"],
        "backend": "jax",
    }
    # two host devices: keras.distribution.DataParallel, global batch = 2 x 16
    assert res["mirrored"]["replicas"] == 2 and res["mirrored"]["global_batch"] == 32
    assert res["mirrored"]["devices"] == ["cpu:0", "cpu:1"]
    assert np.isfinite(res["mirrored"]["loss"][0])
    assert "KERAS_BACKEND=tensorflow" in res["multiworker_error"]
    # the JAX-trained file loads and predicts the same under TensorFlow (this process)
    from blurlib.nets.files import load_model

    probe = np.load(tmp_path / "probe.npy")
    np.testing.assert_allclose(
        load_model(res["model"]).predict(probe, verbose=0),
        np.load(tmp_path / "probe_jax.npy"),
        atol=1e-5,
    )
