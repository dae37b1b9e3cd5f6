#!/usr/bin/env python3
"""Writes the PDF fixtures of the text tests (standard library only; re-run to regenerate).

two_pages.pdf  - two pages of text (Helvetica), a Title in the info dictionary
ligature.pdf   - one line drawn with the "fi" ligature glyph
no_text.pdf    - one page with a drawn rectangle and no text (like a scan without OCR)
corrupt.pdf    - a %PDF header followed by garbled, truncated bytes
encrypted.pdf  - made afterwards with: qpdf --encrypt secret owner 256 -- two_pages.pdf encrypted.pdf
owner_only.pdf - made with: qpdf --encrypt "" owner 256 -- two_pages.pdf owner_only.pdf
                 (encrypted, but the empty user password opens it: it must load)
"""
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def text_stream(lines):
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def write_pdf(path, page_streams, title=None, font_encoding=None, to_unicode=None):
    objects = []  # bodies, object number = index + 1
    n_pages = len(page_streams)
    font_num = 3 + 2 * n_pages
    page_nums = [3 + 2 * i for i in range(n_pages)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{n} 0 R" for n in page_nums)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, stream in enumerate(page_streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font_num} 0 R >> >> "
            f"/Contents {page_nums[i] + 1} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    encoding = f" /Encoding {font_encoding}" if font_encoding else ""
    if to_unicode:
        encoding += f" /ToUnicode {font_num + 1} 0 R"
    objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica{encoding} >>".encode())
    if to_unicode:
        objects.append(b"<< /Length %d >>\nstream\n" % len(to_unicode) + to_unicode +
                       b"\nendstream")
    info_num = None
    if title:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
        info_num = len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R"
    if info_num:
        trailer += f" /Info {info_num} 0 R"
    out += f"trailer\n{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


write_pdf(HERE / "two_pages.pdf", [
    text_stream(["Page one talks about wind tunnels.",
                 "The boundary layer was measured at Mach 2."]),
    text_stream(["Page two covers heat transfer.", "Results agree with theory."]),
], title="Sieve Test Document")
# Byte 0xAE drawn as the "fi" ligature glyph, and a ToUnicode map that says it is U+FB01: text
# extraction gives the ligature character unless the loader spells it out.
TO_UNICODE = b"""/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CMapName /Sieve-Ligature def
/CMapType 2 def
1 begincodespacerange
<00> <FF>
endcodespacerange
1 beginbfrange
<20> <7E> <0020>
endbfrange
1 beginbfchar
<AE> <FB01>
endbfchar
endcmap
CMapName currentdict /CMap defineresource pop
end
end"""
write_pdf(HERE / "ligature.pdf", [text_stream(["The \xaenal \xaegure shows the \xaerst result."])],
          font_encoding="<< /Type /Encoding /Differences [174 /fi] >>", to_unicode=TO_UNICODE)
write_pdf(HERE / "no_text.pdf", [b"0 0 1 rg\n100 100 200 200 re f"])
good = (HERE / "two_pages.pdf").read_bytes()
garbled = bytearray(good[:9])
garbled += bytes((b * 7 + 13) % 256 for b in good[9:300])
(HERE / "corrupt.pdf").write_bytes(bytes(garbled))
