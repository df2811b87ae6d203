"""Study 3: paraphrase and purification as defences against master prints (experiment
``purification-vs-master-prints``).

Master images are passed through the attacks built against watermarks (JPEG, blur, VAE regeneration,
visual paraphrase) at increasing strength, as a purifier in front of the CLIP would pass every input; the
study compares the master images' fooling accuracy after each with the zero-shot accuracy the same
transform leaves on real toy images (a purifier that also destroys real images is no defence).
"""
