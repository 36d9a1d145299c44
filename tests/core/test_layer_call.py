"""apps.core.events.layer_call: channel-layer calls from a thread of its own, on the loop it keeps."""

import asyncio
import threading

from channels.layers import InMemoryChannelLayer

from apps.core.events import layer_call


def test_a_thread_sends_on_one_kept_loop_and_the_message_arrives():
    layer = InMemoryChannelLayer()
    loops, received = [], []

    def thread() -> None:
        async def send(n: int) -> None:
            loops.append(asyncio.get_running_loop())
            await layer.send("door-stream", {"type": "t", "n": n})

        layer_call(send, 1)
        layer_call(send, 2)

        async def both() -> None:
            received.extend(
                [await layer.receive("door-stream"), await layer.receive("door-stream")]
            )

        layer_call(both)

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join(timeout=10)

    assert [m["n"] for m in received] == [1, 2]
    assert len(loops) == 2 and loops[0] is loops[1]  # kept, not one new loop a call


def test_each_thread_keeps_a_loop_of_its_own():
    loops = []

    async def which() -> None:
        loops.append(asyncio.get_running_loop())

    threads = [threading.Thread(target=layer_call, args=(which,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(loops) == 2 and loops[0] is not loops[1]
