"""Audio to transcribe: its format from its bytes or name, its length from its header,
and a form's body there and back."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from relaykit import AudioFile, InvalidRequestError, multipart
from relaykit.audio import flac_seconds, header_seconds, read_audio, sniff, wav_seconds
from relaykit.testing import mock_audio, mock_seconds, mock_transcript

WAV = mock_audio("hello", seconds=2.5)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (WAV, "wav"),
        (b"ID3\x04\x00" + bytes(20), "mp3"),
        (b"\xff\xfb\x90\x64" + bytes(20), "mp3"),  # an MPEG-1 Layer III frame
        (b"fLaC\x00\x00\x00\x22" + bytes(40), "flac"),
        (b"OggS\x00\x02" + bytes(20), "ogg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81" + bytes(20), "webm"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\xff\xf1\x50\x80" + bytes(20), None),  # AAC in ADTS: a sync word, layer 00
        (b"plain text", None),
    ],
)
def test_the_format_comes_from_the_magic_number(head: bytes, fmt: str | None) -> None:
    assert sniff(head) == fmt


def test_a_name_says_the_format_when_the_bytes_do_not_and_is_sent_with_a_known_suffix() -> None:
    unknown = bytes(64)
    assert AudioFile(unknown, filename="/home/me/memo.MP3").format == "mp3"
    assert AudioFile(unknown, filename="/home/me/memo.MP3").upload_name == "memo.MP3"
    # bytes win over a name, and the name sent then has the format's suffix
    assert AudioFile(WAV, filename="take 2.mp3").upload_name == "take 2.wav"
    assert AudioFile(WAV).upload_name == "audio.wav"
    # .opus is Ogg, but OpenAI knows no .opus: sent as .ogg
    assert AudioFile(unknown, filename="note.opus").upload_name == "note.ogg"
    assert AudioFile(unknown, media_type="audio/x-m4a; codecs=mp4a").format == "m4a"


def test_an_unknown_format_is_a_typed_error_naming_the_accepted_ones() -> None:
    with pytest.raises(InvalidRequestError, match="format is unknown") as info:
        AudioFile(b"plain text", filename="notes.txt").format  # noqa: B018
    assert "flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm" in (info.value.hint or "")
    assert "'notes.txt'" in str(info.value)
    with pytest.raises(InvalidRequestError, match="'audio/aiff' is not one relaykit sends"):
        AudioFile(WAV, media_type="audio/aiff").format  # noqa: B018


def test_the_bytes_never_show_in_a_repr() -> None:
    assert repr(AudioFile(b"secret words" * 100)) == (
        "AudioFile(data=<1,200 bytes>, media_type=None, filename=None)"
    )


def test_a_wav_header_says_how_long_it_lasts() -> None:
    assert wav_seconds(WAV) == 2.5
    assert header_seconds(AudioFile(mock_audio(seconds=90, rate=16000))) == 90
    # 16 kHz 16-bit stereo: 64,000 bytes a second, whatever chunks come first
    fmt = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 4, 16)
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"junk" + struct.pack("<I", 3) + b"abc\x00"
    body += b"data" + struct.pack("<I", 32000) + bytes(32000)
    stereo = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    assert wav_seconds(stereo) == 0.5
    # a recorder that never wrote the size back; a file cut short
    unsized = stereo.replace(struct.pack("<I", 32000) + bytes(8), b"\xff\xff\xff\xff" + bytes(8))
    assert wav_seconds(unsized) == 0.5
    assert wav_seconds(stereo[:-16000]) == 0.25
    assert wav_seconds(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert wav_seconds(b"RIFF" + bytes(4) + b"WAVEdata" + bytes(8)) is None  # no fmt


def test_a_flac_streaminfo_says_how_long_it_lasts() -> None:
    rate, samples = 44100, 44100 * 3 + 22050
    packed = (rate << 44) | (1 << 41) | (15 << 36) | samples
    info = bytes(10) + struct.pack(">Q", packed) + bytes(16)
    flac = b"fLaC" + b"\x80\x00\x00\x22" + info
    assert flac_seconds(flac) == 3.5
    assert header_seconds(AudioFile(flac)) == 3.5
    unknown_length = b"fLaC" + b"\x80\x00\x00\x22" + bytes(10) + struct.pack(">Q", rate << 44)
    assert flac_seconds(unknown_length + bytes(16)) is None
    assert header_seconds(AudioFile(b"ID3" + bytes(100))) is None  # an MP3 needs its frames


@pytest.mark.anyio
async def test_audio_is_read_from_bytes_paths_and_audio_files(tmp_path: Path) -> None:
    path = tmp_path / "memo.wav"
    path.write_bytes(WAV)
    assert (await read_audio(path)).data == WAV
    from_str = await read_audio(str(path))
    assert (from_str.data, from_str.filename) == (WAV, str(path))
    assert (await read_audio(bytearray(WAV))).data == WAV
    given = AudioFile(b"\x00" * 10, media_type="audio/mpeg")
    assert await read_audio(given) is given


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ("missing.wav", r"cannot read audio file '.*missing.wav': there is no such file"),
        (".", "it is a directory"),
        (b"", "the audio is empty"),
        (123, "audio must be bytes, a path or a relaykit.AudioFile, not int"),
        (b"not audio at all", "format is unknown"),
    ],
)
@pytest.mark.anyio
async def test_what_cannot_be_read_is_a_typed_error(
    audio: object, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidRequestError, match=message) as info:
        await read_audio(audio)
    assert info.value.param == "audio" and info.value.status is None


def test_what_the_mocks_hear() -> None:
    assert mock_transcript(WAV) == "hello"
    assert mock_transcript(mock_audio("naïve café")) == "naïve café"
    mp3 = b"ID3" + bytes(32_000)
    assert mock_transcript(mp3).startswith("audio ") and len(mock_transcript(mp3)) == 14
    assert mock_transcript(mp3) != mock_transcript(mp3 + b"\x00")
    assert mock_seconds(WAV) == 2.5
    assert mock_seconds(mp3) == pytest.approx(32_003 / 16_000)


def test_a_form_goes_there_and_back() -> None:
    wav = multipart.Part("file", WAV, 'my "best" take\r\n.wav', "audio/wav")
    body, content_type = multipart.encode([("model", "whisper-1"), ("prompt", "Zyxel")], [wav])
    assert content_type.startswith("multipart/form-data; boundary=relaykit-")
    parts = multipart.parse(body, content_type)
    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("model", None, None),
        ("prompt", None, None),
        ("file", 'my "best" take\r\n.wav', "audio/wav"),
    ]
    assert b'filename="my %22best%22 take%0D%0A.wav"' in body  # a header line holds no CR/LF
    assert [p.text for p in parts[:2]] == ["whisper-1", "Zyxel"]
    assert parts[2].data == WAV
    assert repr(parts[2]).startswith(f"Part(name='file', data=<{len(WAV):,} bytes>")


def test_a_form_parameter_decodes_only_what_browsers_escape() -> None:
    # WHATWG forms escape a quote, CR and LF and nothing else: a % stays a %.
    assert multipart.unquote_param("a%22b%0D%0Ac") == 'a"b\r\nc'
    assert multipart.unquote_param("100%41 %2522 %0d") == "100%41 %2522 %0d"
    assert multipart.unquote_param("%%220A") == '%"0A'  # one pass: no escape made anew


def test_a_form_written_by_another_client_is_read() -> None:
    body = (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a;b.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + WAV + b"\r\n"
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="language"\r\n\r\nen\r\n'
        b"--xyz--\r\n"
    )
    file, language = multipart.parse(body, 'multipart/form-data; boundary="xyz"')
    assert (file.filename, file.data, language.text) == ("a;b.wav", WAV, "en")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{}", "application/json", "not multipart/form-data"),
        (
            b"--b\r\ncontent-disposition: form-data; name=x\r\n\r\n1\r\n",
            "multipart/form-data; boundary=b",
            "closing boundary",
        ),
        (
            b"--b\r\ncontent-type: text/plain\r\n\r\n1\r\n--b--",
            "multipart/form-data; boundary=b",
            "no content-disposition name",
        ),
        (b"--b\r\nno blank line\r\n--b--", "multipart/form-data; boundary=b", "no blank line"),
    ],
)
def test_a_broken_form_is_a_value_error(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        multipart.parse(body, content_type)
