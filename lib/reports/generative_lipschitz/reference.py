"""Report 003's published numbers, settings and claims ("Assignment 3, On Generative Models,
Adversarial Examples and Defense Mechanisms", P. K. Agnihotri; ``003_17dde1e3fb7b8c02.txt`` in
../shared/reports/), transcribed from its text. Nothing here is computed.

The report publishes two numbers (the classifiers' test accuracies); everything else it says
about its results is qualitative. :data:`QUOTES` holds every such claim in its own words;
``verdicts.py`` says what each implies on a run and how it is judged.
"""
from __future__ import annotations

from lib.verdicts import Quote

TITLE = "Assignment 3, On Generative Models, Adversarial Examples and Defense Mechanisms"
FILE = "003_17dde1e3fb7b8c02.txt"

#: Section IV: best test accuracy (%) of the two classifiers.
REPORT_ACCURACY = {"fashion_mnist": 92.36, "cifar10": 79.82}
#: Section IV: the classifiers' layers (filters of the 2 x 2 convolutions, dense units).
REPORT_FILTERS = {"fashion_mnist": (64, 128), "cifar10": (32, 64, 128)}
REPORT_KERNEL = 2
REPORT_HIDDEN = 256
#: Section II: training images of the two classifiers' datasets (the report trains on all of them).
REPORT_N_TRAIN = {"fashion_mnist": 60000, "cifar10": 50000}

#: Section III-A: the VAE's latent space is ten-dimensional (Figure 7).
REPORT_Z_DIM = 10
#: Section VII: k = 4 discriminator steps per generator step.
REPORT_GAN_K = 4
#: Figures 9-13: epochs of the GANs (FC GAN on MNIST; Fashion-MNIST at three points; CIFAR DCGAN).
REPORT_FC_MNIST_EPOCHS = 100
REPORT_FASHION_GAN_EPOCHS = (100, 200, 300)
REPORT_CIFAR_GAN_EPOCHS = 1000

#: Carlini and Wagner's (2017) settings, which the paper profile uses (the report gives none).
CW_PAPER = {"binary_search_steps": 9, "steps": 1000, "c": 1e-3, "lr": 1e-2}

III_B, IV, V, VI, VII = ("III-B. GANs", "IV. Part 2, Training a classifier", "V. Adversarial example generation",
                         "VI. Defence mechanism", "VII. Conclusion")

#: Every claim the report makes about its results, in its own words (id -> section, quote).
#: Restatements are the same claims as the ones quoted here: III-B's "Which is pretty much
#: noisy." (the DCGAN's failure), IV's "The classifier are CNN based and hence perform pretty
#: good even on complex tasks as such." (the two accuracies), VI's "Hence we achived our purpose
#: of defence." (it did work) and "the earlier adversarial examples which were earlier getting
#: misclassified due to some added noise are now getting correctly classified" (transfer).
#: Left out as statements of experience or of theory, not results: III's "Most of the times
#: they don't converges", III-B's "CIFAR10, which is by far was most difficult to train", VII's
#: "how dreadful GAN training is", and the mechanism of section I and VI ("the classifier will
#: remain insensitive to the adversarial noise", "small changes in input will give small
#: changes in output").
QUOTES: dict[str, Quote] = {
    # III-B and VII: the generative models (no number: each needs a sample-quality score)
    "dcgan_mnist_fails": Quote(III_B, "DCGAN failed miserably on basic data set such as MNIST"),
    "fc_gan_good": Quote(III_B, "So we tried a fully connected neural network too, and the results were very good."),
    "fc_gan_better": Quote(III_B, "Not only it did converge fast, the output was less noisy and more real."),
    "fashion_gan_improves": Quote(III_B, "As the training progressed we got better"),
    "cifar_dcgan_good": Quote(III_B, "The outputs were good this time contrary to MNIST trained earlier on DCGAN."),
    "gan_k4_optimal": Quote(VII, "We use K=4 iteration to train the discriminator before training the generator "
                                 "and it gave us optimal results."),
    "vae_good": Quote(VII, "VAE on the other hand is easy to train and still gives good results."),
    # IV: the two numbers
    "fashion_clean": Quote(IV, "The best accuracy attained by the classifier on the test data is 92.36%."),
    "cifar_clean": Quote(IV, "The best accuracy attained by the classifier on the test data is 79.82%."),
    # V: the attacks break the classifiers
    "attacks_break": Quote(V, "We choose Fast Gradient Sign Method (FGSM) and Carlini-Wagner (CW) attack to break "
                              "our classifiers as one is fast and other is accurate."),
    # VI: the Lipschitz defense
    "lipschitz_works": Quote(VI, "And it did work in our experimentation."),
    "transfer": Quote(VI, "The adversarial examples which were earlier classified as wrong now are classified right"),
    "more_noise": Quote(VI, "we need more noise to actually break this classifier"),
    "more_noise_cw": Quote(VI, "the noise needed to break a Lipschitz classifier is increased significantly"),
}

#: Quoted passages behind our observations (not claims).
QUOTE_PLAN = Quote("I. Introduction", "break the classifier using generative adversarial examples")
QUOTE_VAE_DATA = Quote("III-A. VAE as Generative Model", "Before trying GANs we thought of trying VAE on "
                                                         "Fashion-MNIST dataset to see how well it performs.")
QUOTE_FIGURE6 = Quote("III-A. VAE as Generative Model (Figure 6)", "CIFAR output on VAE")
QUOTE_CW_FIGURE = Quote("VI. Defence mechanism (Figure 19)",
                        "3rd Row shows noise required by CW attack to break a lipschitz FMNIST classifier")
