using System.Text;
using Ingestion.Workers.Csv;

namespace Ingestion.Tests.Unit;

public sealed class Text_encodings
{
    private static readonly Encoding Windows1252 = CodePagesEncodingProvider.Instance.GetEncoding(1252)!;

    [TestCase(1, 1)]
    [TestCase(3, 2)]
    [TestCase(4096, 4096)]
    public async Task Should_turn_windows_1252_into_the_same_text_in_utf8_whatever_the_read_sizes(int sourceReads, int readerReads)
    {
        const string text = "Café Straße €12,50 „quoted“ – ‰ œ Ÿ\r\n";
        await using var transcoder = Utf8Transcoder.SingleByte(new Trickle(Windows1252.GetBytes(text), sourceReads), SourceEncoding.Windows1252);

        Assert.That(await ReadAllAsync(transcoder, readerReads), Is.EqualTo(Encoding.UTF8.GetBytes(text)));
    }

    [Test]
    public async Task Should_mark_bytes_windows_1252_leaves_undefined_as_invalid_utf8()
    {
        await using var transcoder = Utf8Transcoder.SingleByte(new MemoryStream([(byte)'a', 0x81, 0x9D, (byte)'b']), SourceEncoding.Windows1252);

        Assert.That(await ReadAllAsync(transcoder, 64), Is.EqualTo(new byte[] { (byte)'a', 0xFF, 0xFF, (byte)'b' }));
    }

    [Test]
    public async Task Should_mark_the_c1_bytes_of_iso_8859_1_as_invalid_utf8()
    {
        await using var transcoder = Utf8Transcoder.SingleByte(new MemoryStream([(byte)'a', 0x80, 0x9F, 0xA0, 0xE9, 0xFF]), SourceEncoding.Latin1);

        Assert.That(await ReadAllAsync(transcoder, 64), Is.EqualTo(new byte[] { (byte)'a', 0xFF, 0xFF }.Concat(Encoding.UTF8.GetBytes("\u00A0éÿ"))));
    }

    [TestCase(false, 1)]
    [TestCase(true, 3)]
    [TestCase(false, 4096)]
    public async Task Should_turn_utf16_with_surrogate_pairs_split_anywhere_into_utf8(bool bigEndian, int sourceReads)
    {
        const string text = "Αθήνα 😀 東京, 𝄞\n";
        var encoding = new UnicodeEncoding(bigEndian, byteOrderMark: true);
        var bytes = encoding.GetPreamble().Concat(encoding.GetBytes(text)).ToArray();
        await using var transcoder = Utf8Transcoder.Utf16(new Trickle(bytes, sourceReads), bigEndian);

        Assert.That(await ReadAllAsync(transcoder, 5), Is.EqualTo(Encoding.UTF8.GetBytes(text)));
    }

    [Test]
    public async Task Should_mark_a_lone_surrogate_and_an_odd_last_byte_as_invalid_utf8()
    {
        byte[] bytes = [0xFF, 0xFE, (byte)'a', 0, 0x3D, 0xD8, (byte)'b', 0, 0x00, 0xDC, (byte)'c'];
        await using var transcoder = Utf8Transcoder.Utf16(new MemoryStream(bytes), bigEndian: false);

        Assert.That(await ReadAllAsync(transcoder, 64), Is.EqualTo(new byte[] { (byte)'a', 0xFF, (byte)'b', 0xFF, 0xFF }));
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, int readSize)
    {
        var output = new MemoryStream();
        var buffer = new byte[readSize];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            output.Write(buffer, 0, read);
        }

        return output.ToArray();
    }

    /// <summary>Hands out at most a few bytes per read, as a network stream may.</summary>
    private sealed class Trickle(byte[] bytes, int readSize) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(readSize, buffer.Length)], cancellationToken);
    }
}
