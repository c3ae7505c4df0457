# ConvNeXt-L ImageNet-22K -> 1K fine-tune at 384: convnext_large_in22k_ft_in1k.py (the same
# checkpoint, 30-epoch recipe, layer decay 0.8, drop path 0.3) on 384x384 images;
# 16 images x 32 processes = 512.
_base_ = ['./convnext_large_in22k_ft_in1k.py', './_base_/datasets/imagenet_384.py']
img_size, train_pipeline, test_pipeline = _base_.img_size_384, _base_.train_pipeline_384, _base_.test_pipeline_384
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
