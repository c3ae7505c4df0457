# Mask2Former's lr rule (its paper, and mmdet's/mmseg's configs) through mmconvnext's one layer-decay
# constructor: backbone lr x0.1; no weight decay on the query features, query and level embeddings
# (custom_keys) nor on norms, biases and other 1-D parameters (the constructor's rule; mmdet's and mmseg's
# configs decay biases). decay_rate 1.0: no layer decay, as the recipe; below 1.0 it multiplies the
# backbone multiplier. A config takes it as
# optim_wrapper = dict(constructor=..., paramwise_cfg={{_base_.mask2former_paramwise_cfg}}).
mask2former_paramwise_cfg = dict(
    _delete_=True,  # the base configs' norm_decay_mult is mmengine's constructor's key
    decay_rate=1.0,
    decay_type='stage_wise',
    custom_keys={
        'backbone': dict(lr_mult=0.1, decay_mult=1.0),
        'query_embed': dict(lr_mult=1.0, decay_mult=0.0),
        'query_feat': dict(lr_mult=1.0, decay_mult=0.0),
        'level_embed': dict(lr_mult=1.0, decay_mult=0.0),
    },
)
