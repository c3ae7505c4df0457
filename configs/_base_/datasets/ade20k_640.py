# ADE20K at 640x640 crops (2560x640 scale), as used with the ImageNet-22K backbones.
_base_ = 'mmseg::_base_/datasets/ade20k_640x640.py'
dataset = dict(type='mmconvnext.ADE20KDataset', data_root='data/ade/ADEChallengeData2016')
train_dataloader = dict(batch_size=2, dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
