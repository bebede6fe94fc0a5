"""The project's named recipes: ``make_preset("default")`` is what we ship, ``"seed"`` is the tutorial.

Both are classifiers meant to sit behind a ``StandardScaler`` in a pipeline (the scaler fitted on the
training rows only; the tutorial fitted it on all rows before splitting, a small leak we do not copy).

``"seed"``: the tutorial network, hyper-parameter for hyper-parameter
    30-5-1, sigmoid everywhere, no intercepts, weights drawn from uniform(0, 1) in the tutorial's order,
    half the squared error of the sigmoid output (gradient ``(a - y) * a * (1 - a)``) *summed* over the
    batch, plain gradient descent with learning rate 0.1, 10,000 full-batch epochs, threshold 0.5. With
    ``random_state=s`` it reproduces the tutorial run after ``np.random.seed(s)`` (tested).

``"default"``: the average of 10 networks, each 30-32-1 tanh, sigmoid output, log loss, Adam
    (learning rate 3e-3), L2 ``alpha=0.01``, mini-batches of 64, early stopping on a stratified 10%
    validation split (patience 10 epochs) with the best epoch's weights restored.

How ``"default"`` was chosen (scripts not shipped; every figure is a mean over the CV folds, metric
order accuracy / ROC AUC / log loss / Brier). The evaluation protocol - ``RepeatedStratifiedKFold(
n_splits=5, n_repeats=10, random_state=0)`` over the 569 rows - scored no grid; but it was run four
times along the way, and two of those runs shaped the path, so the figures below are not a pristine
hold-out: (a) the earlier probe's recipe (5 x tanh-16, batch 32, lr 1e-3) as a first smoke test:
0.9773 / 0.9955 / 0.0717 / 0.0181; (b) the pick of step 1, which failed the targets; (c) the pick of
step 2 with 5 members (0.9770 / 0.9953 / 0.0735 / 0.0187: accuracy 0.0002 below logistic regression),
after which step 3 was run; (d) the final recipe.

1. Inner CV on the training part (455 rows) of ``train_test_split(test_size=0.2, stratify=y,
   random_state=42)``, ``RepeatedStratifiedKFold(5, 2, random_state=1)``, 5-member ensembles, grid:
   activation {tanh, relu} x width {8, 16, 32} x alpha {1e-3, 1e-2, 1e-1, 1} x batch {32, 64} x
   learning rate {1e-3, 3e-3}. Best log loss: relu, 8 units, alpha 0.1, batch 32, lr 3e-3 (inner 0.0691;
   0.0706 over 25 folds x 3 ensemble seeds). Its check on the protocol failed our targets (0.9768 /
   0.9950 / 0.0761 / 0.0191), so it was not shipped. The inner folds trained on 364 rows, not 455;
   and single-network scores moved by up to 0.018 in log loss between seeds - noise that decides a
   grid whose top 20 entries lie within one standard error (about 0.009).
2. Hence a second search, on the alternative agreed for this project: CV over all 569 rows with a
   different seed, ``RepeatedStratifiedKFold(5, 2, random_state=1)`` (455 training rows per fold, like
   the protocol), same grid. The top six were all tanh, batch 64, lr 1e-3 (widths 32 and 16, any alpha);
   re-scored over ``RepeatedStratifiedKFold(5, 4, random_state=1)`` and two ensemble seeds, width 32
   led (log loss 0.0745; alpha 1e-3 / 1e-2 / 1e-1 equal to 4 decimals, alpha 1 worse at 0.0830;
   validation fraction 0.2, patience 20 or dropout 0.1 changed nothing). LogisticRegression() on
   those folds: 0.9763 / 0.9954 / 0.0738 / 0.0195.
3. Members and step size under the speed budget (one fit well under 0.6 s on 2 shared cores), same
   folds; CPU seconds per fit on 455 rows, best of 4 / median: 5 members, lr 1e-3: 0.0745 in
   0.25 / 0.41 s; 10 members, lr 3e-3: 0.9743 / 0.9956 / 0.0738 / 0.0191 in 0.33 / 0.40 s; 10 members,
   lr 1e-3: 0.0737 but 0.59 / 0.71 s. The rule "lowest log loss within the budget" picks 10 members
   with lr 3e-3; alpha stays at the middle value 1e-2.

Verification on the protocol (``make_pipeline(StandardScaler(), make_preset(name, random_state=0))``,
``cross_validate(..., n_jobs=2)``):

=====================  ========  =======  ========  ======
model                  accuracy  ROC AUC  log loss  Brier
=====================  ========  =======  ========  ======
default                0.9775    0.9953   0.0744    0.0188
seed                   0.9659    0.9940   0.1541    0.0289
LogisticRegression()   0.9772    0.9947   0.0758    0.0195
MLPClassifier(rs=0)    0.9763    0.9947   0.0777    0.0189
=====================  ========  =======  ========  ======

The margins over logistic regression are within the protocol's noise (one more correct prediction in
5,690 is +0.0002 accuracy): on this data set the network matches a linear model rather than beating it.
"""

from sklearn.base import ClassifierMixin

from neuralnet.classifier import NeuralNetClassifier
from neuralnet.ensemble import NetworkEnsembleClassifier

PRESET_NAMES: tuple[str, ...] = ("default", "seed")


def make_preset(name: str, random_state: int | None = None) -> ClassifierMixin:
    """A new, unfitted classifier for the recipe called ``name`` (one of :data:`PRESET_NAMES`)."""
    if name == "default":
        member = NeuralNetClassifier(
            (32,),
            activation="tanh",
            optimizer="adam",
            learning_rate=3e-3,
            alpha=1e-2,
            batch_size=64,
            max_iter=2000,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=10,
        )
        return NetworkEnsembleClassifier(member, n_members=10, random_state=random_state)
    if name == "seed":
        return NeuralNetClassifier(
            (5,),
            activation="sigmoid",
            loss="squared_error",
            optimizer="sgd",
            learning_rate=0.1,
            alpha=0.0,
            batch_size=None,
            max_iter=10_000,
            n_iter_no_change=None,
            init="uniform",
            fit_intercept=False,
            reduction="sum",
            random_state=random_state,
        )
    raise ValueError(f"name must be one of {PRESET_NAMES}; got {name!r}.")
