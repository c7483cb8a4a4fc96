from multidrizzle.kernels.blot import BLOT_INTERPOLANTS, SINC_HALF_WIDTH, blot_image  # noqa: F401
