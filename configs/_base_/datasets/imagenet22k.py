# ImageNet-22K (21841 classes), data/imagenet22k/<class>/<image> (folder layout) or an
# annotation file; pre-training runs without a validation set, as the official one did.
_base_ = './imagenet_224.py'
data_root = 'data/imagenet22k/'
train_dataloader = dict(batch_size=32, dataset=dict(data_root=data_root, data_prefix='', num_classes=21841))
val_dataloader = None
val_evaluator = None
test_dataloader = None
test_evaluator = None
