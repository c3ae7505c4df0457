# mmseg's ADE20K pipeline (512x512 crops, multi-scale + flip TTA) on mmconvnext's
# ADE20KDataset (same data, clear errors); 2 images per process x 8 processes = 16.
_base_ = 'mmseg::_base_/datasets/ade20k.py'
dataset = dict(type='mmconvnext.ADE20KDataset', data_root='data/ade/ADEChallengeData2016')
train_dataloader = dict(batch_size=2, dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
