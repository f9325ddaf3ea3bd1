"""Training a run into its folder: ``train_run(settings, out)``.

The only code that writes a run folder (``d2l_cnn.rundir``). Every file
is written atomically after its epoch's checkpoint, so no kill leaves
anything in between. ``--resume`` continues from the newest checkpoint
that loads (a damaged one is skipped, with a note) and only with the
settings it was saved with, unless ``allow_changes`` (the changes are
recorded).
"""
import json
import os
import sys
import time

from mxnet import nd
from mxnet.contrib import amp as mx_amp

from . import checkpoint
from .devices import seed_everything
from .errors import D2LError, UsageError
from .loop import train_ch5
from .registry import Recipe, get_entry, get_model
from .rundir import (RunDir, RunLock, is_finished, make_out, prepare_out,
                     versions, write_metrics)
from .settings import check_input_size
from .worker import create_kvstore


# Say so when a run on the CPU would take longer than this (seconds).
SLOW_RUN = 20 * 60


# Settings that --resume must find unchanged (the device and the data
# folder may change: they do not change what is computed)
RESUME_KEYS = tuple(f.name for f in Recipe.overridable()) + (
    'seed', 'num_examples', 'lr_steps', 'lr_factor')


class SlowRunNote:
    """After a few batches, estimate the run's length; say if it is long."""

    def __init__(self, ctx, batches_per_epoch, num_epochs, start_epoch,
                 model, after=3, quick=False):
        # quick: this run is already the quick one (cpu recipe, mnist5k)
        self.ctx, self.after, self.quick = ctx, after, quick
        self.total = batches_per_epoch * (num_epochs - start_epoch)
        self.model, self.start, self.done = model, None, False

    def __call__(self, epoch, batch, examples):
        if self.done or self.ctx[0].device_type != 'cpu':
            return
        if batch == 0:
            nd.waitall()  # the first batch builds the graph: not counted
            self.start = time.time()
        elif batch == self.after and self.start is not None:
            nd.waitall()
            per_batch = (time.time() - self.start) / self.after
            self.done = True
            eta = per_batch * self.total
            if eta > SLOW_RUN:
                hint = ('for a quick run that learns try: python -m '
                        'd2l_cnn.train %s --data mnist5k --recipe cpu'
                        % self.model)
                if self.quick:
                    hint = 'fewer --num-epochs make it shorter'
                print('note: at %.2f s per batch this run will take about '
                      '%s on the CPU; %s' % (per_batch, _duration(eta),
                                             hint), file=sys.stderr)


def _duration(seconds):
    if seconds >= 3600:
        return '%.1f hours' % (seconds / 3600)
    return '%d minutes' % round(seconds / 60)


def _materialise(net, train_iter, ctx):
    """Run one batch forward so deferred parameter shapes are known."""
    for X, _ in train_iter:
        net(X[:1].as_in_context(ctx[0]))
        return


def _changes(saved, now):
    """``{name: [saved value, this run's]}`` for every differing setting."""
    saved = saved if isinstance(saved, dict) else {}
    # a field newer than the checkpoint: it was saved with the default
    saved = dict({f.name: f.default for f in Recipe.overridable()},
                 **saved)
    return {k: [saved.get(k), now[k]] for k in RESUME_KEYS
            if saved.get(k) != now[k]}


def _describe_changes(changed):
    return ', '.join('%s %s -> %s' % (k, json.dumps(old), json.dumps(new))
                     for k, (old, new) in changed.items())


def resume_checkpoint(out, net, trainer, expect, now, allow_changes=False):
    """Load the newest checkpoint of ``out`` that loads; ``(meta, changes)``.

    Damaged checkpoints (unreadable files, wrong types, no
    ``trainer.states``) are skipped with a note. The settings ``now``
    must equal those the checkpoint was saved with, unless
    ``allow_changes``; then a missing ``trainer.states`` is accepted too
    (the optimizer's momentum restarts, said in a note).
    """
    folders = checkpoint.candidates(out)
    if not folders:
        raise UsageError('--resume: no checkpoint in %s (no epoch was '
                         'saved); start a run there without --resume'
                         % out)
    skipped = []
    for folder in folders:
        missing = (trainer is not None and not os.path.isfile(
            os.path.join(folder, checkpoint.STATES)))
        try:
            meta = checkpoint.load(folder, net, trainer, expect,
                                   need_states=not allow_changes)
        except checkpoint.DamagedCheckpoint as e:
            skipped.append(str(e))
            print('note: %s: skipped' % e, file=sys.stderr)
            continue
        changed = _changes(meta.get('settings'), now)
        if changed and not allow_changes:
            raise UsageError(
                '--resume: %s was saved with other settings (%s); resume '
                'with the same options, or add --allow-changes to change '
                'them (recorded in run.json)'
                % (folder, _describe_changes(changed)))
        if changed:
            print('note: resuming with changed settings: %s'
                  % _describe_changes(changed), file=sys.stderr)
        if missing:
            print('note: %s has no trainer.states: the optimizer starts '
                  'afresh (momentum restarts)' % folder, file=sys.stderr)
        if folder != folders[0]:
            print('note: resuming from the older checkpoint %s'
                  % folder, file=sys.stderr)
        return folder, meta, changed
    raise D2LError('--resume: no checkpoint in %s can be loaded (%s); '
                   'move the checkpoints folder away to start afresh, or '
                   'choose another --out' % (out, '; '.join(skipped)))


def _valid_segments(saved, start_epoch):
    """The saved settings per epoch that make sense, in order; the others
    are skipped with a note (a hand-edited meta.json)."""
    kept, skipped = [], []
    for seg in saved:
        first = seg.get('from_epoch') if isinstance(seg, dict) else None
        if (isinstance(first, int) and not isinstance(first, bool)
                and 1 <= first <= start_epoch
                and first > (kept[-1]['from_epoch'] if kept else 0)):
            kept.append(seg)
        else:
            skipped.append(seg)
    if skipped:
        print('note: skipped %d entries of the saved settings per epoch '
              '("segments") that are not in order from epoch 1 to %d'
              % (len(skipped), start_epoch), file=sys.stderr)
    return kept


def _segments(segments, num_epochs):
    """run.json's settings per epoch: ``[{epochs: [first, last], ...}]``."""
    rows = []
    for i, seg in enumerate(segments):
        end = (segments[i + 1]['from_epoch'] - 1 if i + 1 < len(segments)
               else num_epochs)
        rows.append(dict({k: v for k, v in seg.items()
                          if k != 'from_epoch'},
                         epochs=[seg['from_epoch'], end]))
    return rows


def train_run(s, out, resume=False, kvstore=None, hybridize=True,
              amp=False, progress=None, state=None, command=None,
              allow_changes=False, force=False):
    """Train as the settings ``s`` say into the folder ``out``.

    Writes metrics, curves and a checkpoint after every epoch, and
    ``model.params`` and ``run.json`` at the end; ``resume`` continues
    from the newest checkpoint in ``out`` that loads, with the same
    settings unless ``allow_changes``. The folder is locked meanwhile
    (``RunLock``). ``kvstore`` names how gradients are combined
    (``dist_sync``: one process of a launch job; only rank 0 writes).
    ``state`` (a dict) receives the kvstore, so a failing ``dist_sync``
    worker can leave without waiting for the others. ``force`` trains
    into a folder holding files no run writes (``prepare_out``).
    Returns the history (one dict per epoch).
    """
    out = os.fspath(out)  # a path or a RunDir
    state = {} if state is None else state
    ctx = s.contexts
    check_input_size(s)
    if amp and ctx[0].device_type != 'gpu':
        raise UsageError('--amp trains in float16 and needs a GPU '
                         '(--ctx gpu)')
    kv, rank = None, 0
    if kvstore:
        kv = state['kv'] = create_kvstore(kvstore)
        rank = kv.rank
    state['rank'] = rank
    if rank != 0:  # only rank 0 writes the folder
        return _train(s, out, resume, kv, hybridize, amp, progress,
                      command, allow_changes)
    created = not os.path.exists(out)
    make_out(out)
    try:
        with RunLock(out):
            prepare_out(out, resume, force)
            return _train(s, out, resume, kv, hybridize, amp, progress,
                          command, allow_changes)
    except BaseException:
        if created:  # an error before the first epoch: no empty folder
            _remove_empty(out)
        raise


def _remove_empty(out):
    """Remove ``out`` (and its ``checkpoints/``) if nothing is in it."""
    for folder in (os.path.join(out, checkpoint.FOLDER), out):
        try:
            os.rmdir(folder)  # only when empty
        except OSError:
            pass


def _train(s, out, resume, kv, hybridize, amp, progress, command,
           allow_changes):
    ctx = s.contexts
    rank, num_workers = (kv.rank, kv.num_workers) if kv else (0, 1)
    distributed = kv is not None and 'dist' in kv.type
    if amp:
        mx_amp.init()  # before the network is built
    seed_everything(s.seed)
    train_iter, test_iter = s.load_data(ctx[0])
    if num_workers > 1:
        train_iter = train_iter.shard(num_workers, rank)
    net = get_model(s.model, num_classes=s.num_classes)
    net.initialize(s.initializer, ctx=ctx)
    if hybridize and get_entry(s.model).hybrid:
        net.hybridize(static_alloc=True)
    trainer = s.make_trainer(net, kv, len(train_iter))
    if amp:
        mx_amp.init_trainer(trainer)
    expect = {'model': s.model, 'num_classes': s.num_classes,
              'in_channels': s.in_channels}
    now = {k: v for k, v in s.asdict().items() if k in RESUME_KEYS}
    history, start_epoch = [], 0
    segments = [{'from_epoch': 1, 'settings': now}]
    if resume:
        # shapes are deferred until the first batch: run one to fix them
        _materialise(net, train_iter, ctx)
        # dist_sync keeps the optimizer state on the servers: only the
        # parameters were saved (momentum restarts after --resume)
        folder, meta, changed = resume_checkpoint(
            out, net, None if distributed else trainer, expect, now,
            allow_changes)
        history, start_epoch = meta['history'], meta['epoch']
        saved = meta.get('segments')
        if not isinstance(saved, list) or not saved:
            saved = [{'from_epoch': 1, 'settings': meta.get('settings')}]
        segments = _valid_segments(saved, start_epoch) or [
            {'from_epoch': 1, 'settings': meta.get('settings')}]
        if changed:
            segments.append({'from_epoch': start_epoch + 1,
                             'settings': now, 'changed': changed,
                             'by': '--allow-changes'})
        print('resuming from epoch %d (%s)' % (start_epoch, folder))
        if start_epoch >= s.num_epochs and is_finished(out):
            # nothing to train: run.json keeps what ran, and when
            print('%s has finished its %d epochs: nothing to resume, '
                  'nothing rewritten' % (out, start_epoch))
            return history
    run_info = dict(expect, data=s.data, resize=s.resize,
                    recipe=s.asdict(), seed=s.seed,
                    ctx=[str(c) for c in ctx],
                    kvstore=kv.type if kv else None,
                    num_workers=num_workers, versions=versions(),
                    command=list(sys.argv if command is None else command),
                    started=time.strftime('%Y-%m-%d %H:%M:%S'))
    started = time.time()

    def save_epoch(record):
        history.append(record)
        if rank != 0:
            return
        checkpoint.save(out, record['epoch'], net,
                        None if distributed else trainer,
                        dict(expect, history=history, seed=s.seed,
                             settings=now, segments=segments))
        write_metrics(out, history)

    print('%s on %s: lr %g, batch size %d, resize %d, %d epochs, %s'
          % (s.model, s.data, s.lr, s.batch_size, s.resize, s.num_epochs,
             s.optimizer))
    train_ch5(net, train_iter, test_iter if rank == 0 else None,
              s.batch_size, trainer, ctx, s.num_epochs,
              callbacks=[save_epoch], start_epoch=start_epoch,
              verbose=rank == 0, seed=s.seed, progress=progress,
              batch_scale=num_workers, amp=amp, fixed_batch=distributed,
              batch_callbacks=[SlowRunNote(ctx, len(train_iter),
                                           s.num_epochs, start_epoch,
                                           s.model, quick=s.quick and
                                           s.data == 'mnist5k')])
    if rank == 0:
        checkpoint.atomic_save(net, RunDir(out).params)
        run_info.update(elapsed=time.time() - started,
                        finished=time.strftime('%Y-%m-%d %H:%M:%S'),
                        final=history[-1] if history else None,
                        settings_per_epoch=_segments(
                            segments, len(history)))
        checkpoint.atomic_write(RunDir(out).run_json,
                                json.dumps(run_info, indent=1))
    return history
