"""Study 2: watermarks through every generator (experiment ``watermarks-through-generators``).

Every generator's images (stock, layout region fusion and box guidance, FreeCustom's multi-concept MRSA,
retrieval-augmented neighbour blending) are watermarked with each watermark: post-hoc (dwtDct, dwtDctSvd,
rivaGan) on the finished images, generation-time (Tree-Ring, Gaussian Shading) through the initial latents
the generator starts from. Then the attack table (JPEG, blur, VAE regeneration, visual paraphrase): per
generator x watermark the clean TPR at 1 % FPR, TPR and bit accuracy under each attack and at matched SSIM,
and each generator against stock, which tells whether its own guidance disturbs the generation-time
watermarks (they assume plain sampling from the keyed latent).
"""
