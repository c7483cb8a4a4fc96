from multidrizzle.kernels.blot import BLOT_INTERPOLANTS, SINC_HALF_WIDTH, blot_image  # noqa: F401
from multidrizzle.kernels.drizzle import (  # noqa: F401
    CONTEXT_PLANE_BITS,
    DRIZZLE_KERNELS,
    context_plane_and_bit,
    drizzle_add_image,
    finalize_fill,
    new_context,
)
