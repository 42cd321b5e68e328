"""Reference phoneme ids from piper-tts's own phonemizer (test/unit/audio-phonemes.test.ts).

Reads one text per line on stdin and writes one JSON line per text: the phoneme id sequence of each
sentence, exactly as piper's PiperVoice.phonemize and phonemes_to_ids produce them for the voice
config given as the first argument (no model is loaded).
"""
import json
import sys

from piper.config import PiperConfig
from piper.voice import PiperVoice


class _ConfigOnly(PiperVoice):
    def __init__(self, config):  # no ONNX session: only phonemes are needed
        self.config = config
        self.session = None
        self.download_dir = None
        self.use_tashkeel = False
        self.tashkeel_diacritizier = None
        self.taskeen_threshold = None


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        config = PiperConfig.from_dict(json.load(f))
    voice = _ConfigOnly(config)
    for line in sys.stdin:
        text = line.rstrip("\n")
        sentences = voice.phonemize(text)
        print(json.dumps([voice.phonemes_to_ids(p) for p in sentences if p]), flush=True)


main()
