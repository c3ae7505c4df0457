# mmdet's COCO instance-segmentation data (single scale 1333x800) on mmconvnext's
# CocoDataset (same data, clear errors); 2 images per process x 8 processes = 16.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'
dataset = dict(type='mmconvnext.CocoDataset', data_root='data/coco/')
train_dataloader = dict(batch_size=2, dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
