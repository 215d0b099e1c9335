"""`toile run` as an organizer starts it: migrations, long polling, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from tests.fake_telegram import FakeTelegram
from tests.test_polling_and_ticks import message_update


async def test_toile_run_answers_over_long_polling_and_stops_on_sigterm(tmp_path):
    fake = FakeTelegram()
    await fake.start()
    env = {**os.environ, "BOT_TOKEN": "42:TEST", "TELEGRAM_API_URL": fake.url,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}",
           "ORGANIZER_IDS": "900", "REDIS_URL": "", "WEBHOOK_URL": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        fake.updates.put_nowait(message_update(1, 555, "/start"))
        deadline = time.monotonic() + 30
        while not fake.chat(555):
            assert process.returncode is None, (await process.stdout.read()).decode()
            assert time.monotonic() < deadline, "no answer from `toile run`"
            await asyncio.sleep(0.1)
        assert fake.chat(555)[0].text.startswith("Bonjour Nour")
        assert (tmp_path / "toile.db").exists()  # migrated on start
        assert fake.sent("setMyCommands")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 20))[0].decode()
        await fake.stop()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
