"""Runs the learning-rate range test on scikit-learn's digits, prints the suggested rates, trains
with the "valley" rate and draws the test into docs/lr_finder.png.

    python examples/lr_finder.py [--out docs/lr_finder.png] [--epochs 5]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from keras_optkit.callbacks import find_lr  # noqa: E402
from keras_optkit.demo import build_digits_model, load_digits_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/lr_finder.png")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    x_train, y_train, x_val, y_val = load_digits_split(seed=0)
    model = build_digits_model(seed=0)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    result = find_lr(
        model, x_train, y_train, batch_size=32, start_lr=1e-7, end_lr=10.0, num_steps=100
    )
    print(result.summary())

    # The test left the model exactly as it was: this trains it from its initial weights.
    model.optimizer.learning_rate = result.valley
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=0)
    accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    print(
        f"validation accuracy after {args.epochs} epochs at the valley rate "
        f"{result.valley:.3g}: {accuracy:.4f}"
    )

    ax = result.plot()
    ax.set_title(f"Learning-rate range test, digits MLP ({keras.backend.backend()} backend)")
    ax.figure.tight_layout()
    ax.figure.savefig(args.out, dpi=110)
    plt.close(ax.figure)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
