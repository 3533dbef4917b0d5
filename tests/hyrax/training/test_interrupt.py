from __future__ import annotations

import os
import signal

from ignite.engine import Engine, Events

from hyrax.training.interrupt import StopOnInterrupt


def test_sigint_stops_after_the_current_iteration_and_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    done = []

    def step(engine, batch):
        if batch == 3:
            os.kill(os.getpid(), signal.SIGINT)
        done.append(batch)

    trainer = Engine(step)
    with StopOnInterrupt(trainer) as stop:
        trainer.run(range(10), max_epochs=2)
    assert stop.requested
    assert done == [0, 1, 2, 3]
    assert trainer.state.iteration == 4
    assert signal.getsignal(signal.SIGINT) is before


def test_disabled_does_nothing():
    before = signal.getsignal(signal.SIGINT)
    trainer = Engine(lambda engine, batch: None)
    with StopOnInterrupt(trainer, enabled=False) as stop:
        assert signal.getsignal(signal.SIGINT) is before
        trainer.run(range(3))
    assert not stop.requested


def test_sigint_in_the_last_batch_of_an_epoch_lets_the_epoch_finish():
    ended = []
    trainer = Engine(lambda engine, batch: batch == 9 and os.kill(os.getpid(), signal.SIGINT))
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: ended.append(engine.state.epoch))
    with StopOnInterrupt(trainer) as stop:
        trainer.run(range(10), max_epochs=3)
    assert stop.requested
    assert ended == [1]
    assert trainer.state.iteration == 10
