"""Report 003's published numbers and settings ("Assignment 3, On Generative Models, Adversarial
Examples and Defense Mechanisms", P. K. Agnihotri; ``003_17dde1e3fb7b8c02.txt`` in
../shared/reports/), transcribed from its text. Nothing here is computed.

The report publishes two numbers (the classifiers' test accuracies); everything else it
says about results is qualitative, and is listed here as such so that the notebook can
quote it beside what we measure.
"""
from __future__ import annotations

TITLE = "Assignment 3, On Generative Models, Adversarial Examples and Defense Mechanisms"
FILE = "003_17dde1e3fb7b8c02.txt"

#: Section IV: best test accuracy (%) of the two classifiers.
REPORT_ACCURACY = {"fashion_mnist": 92.36, "cifar10": 79.82}
#: Section IV: the classifiers' layers (filters of the 2 x 2 convolutions, dense units).
REPORT_FILTERS = {"fashion_mnist": (64, 128), "cifar10": (32, 64, 128)}
REPORT_KERNEL = 2
REPORT_HIDDEN = 256

#: Section III-A: the VAE's latent space is ten-dimensional (Figure 7).
REPORT_Z_DIM = 10
#: Section VII: k = 4 discriminator steps per generator step.
REPORT_GAN_K = 4
#: Figures 9-13: epochs of the GANs (FC GAN on MNIST; Fashion-MNIST at three points; CIFAR DCGAN).
REPORT_FC_MNIST_EPOCHS = 100
REPORT_FASHION_GAN_EPOCHS = (100, 200, 300)
REPORT_CIFAR_GAN_EPOCHS = 1000

#: Carlini and Wagner's (2017) settings, which the issue asks for in the paper profile.
CW_PAPER = {"binary_search_steps": 9, "steps": 1000, "c": 1e-3, "lr": 1e-2}

#: The report's qualitative statements (section), quoted in the notebook beside our evidence.
STATEMENTS = {
    "dcgan_mnist": "DCGAN failed miserably on basic data set such as MNIST ... pretty much noisy (III-B, Fig. 8)",
    "fc_gan": "a fully connected network ... results were very good ... converge fast (III-B, Fig. 9)",
    "fashion_progress": "as the training progressed we got better and better results (Figs. 10-12)",
    "cifar_gan": "The outputs were good this time (deeper DCGAN on CIFAR-10, Fig. 13)",
    "vae": "VAE on the other hand is easy to train and still gives good results (VII)",
    "lipschitz": "And it did work in our experimentation ... we need more noise to actually break this "
                 "classifier (VI, Figs. 19-20)",
    "transfer": "The adversarial examples which were earlier classified as wrong now are classified right (VI)",
}

#: The report's contradictions, stated in the notebook (issue 10, item 6).
CONTRADICTIONS = (
    "Section I promises to break the classifiers 'using generative adversarial examples', but section V "
    "uses FGSM and Carlini-Wagner, neither of which involves a generative model.",
    "Section III-A says the VAE was tried 'on Fashion-MNIST dataset', yet Figure 6 shows 'CIFAR output on VAE'.",
    "Section VI says the Lipschitz defense 'did work' and needs 'more noise', but gives no number: no clean "
    "accuracy of the constrained classifier, no distortion, no success rate.",
)
