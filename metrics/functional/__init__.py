"""Plain functions behind the metric classes (torchmetrics' ``functional`` layout)."""

from metrics.functional.adversarial import adversarial_rank, fooling_accuracy
from metrics.functional.bit_accuracy import binomial_p_value, bit_accuracy, matching_bits
from metrics.functional.detection import roc_auc, threshold_at_fpr, tpr_at_fpr
from metrics.functional.frechet import frechet_distance, gaussian_stats
from metrics.functional.kid import kernel_inception_distance, polynomial_mmd2
from metrics.functional.ms_ssim import MS_SSIM_BETAS, multiscale_structural_similarity
from metrics.functional.mse import mean_squared_error
from metrics.functional.psnr import peak_signal_noise_ratio
from metrics.functional.retrieval import average_precision, mean_average_precision, recall_at_k
from metrics.functional.ssim import structural_similarity

__all__ = [
    "MS_SSIM_BETAS",
    "adversarial_rank",
    "average_precision",
    "binomial_p_value",
    "bit_accuracy",
    "fooling_accuracy",
    "frechet_distance",
    "gaussian_stats",
    "kernel_inception_distance",
    "matching_bits",
    "mean_average_precision",
    "mean_squared_error",
    "multiscale_structural_similarity",
    "peak_signal_noise_ratio",
    "polynomial_mmd2",
    "recall_at_k",
    "roc_auc",
    "structural_similarity",
    "threshold_at_fpr",
    "tpr_at_fpr",
]
