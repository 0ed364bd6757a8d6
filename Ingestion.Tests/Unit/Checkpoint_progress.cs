using Ingestion.Workers.Copy;

namespace Ingestion.Tests.Unit;

/// <summary>
/// What a checkpoint reports as the object's bytes read and as its text's (uncompressed) bytes: the decompressor's or
/// converter's input where there is one, and an uncompressed size for a compressed text file only.
/// </summary>
public sealed class Checkpoint_progress
{
    private static Checkpoint At(long offset, long? objectRead, bool converted = false, long? rowsTotal = null) =>
        new(Guid.NewGuid(), null, [], BytesTotal: 10_000, ByteOffset: offset, Line: 10, RowsLoaded: 9, RowsRejected: 0,
            FinishedAt: null, RejectsKey: null, CompressedRead: objectRead, RowsTotal: rowsTotal, Converted: converted);

    [Test]
    public void Should_count_a_plain_files_offset() =>
        Assert.That((At(4_000, null).ObjectBytesRead, At(4_000, null).UncompressedBytesRead), Is.EqualTo((4_000L, (long?)null)));

    [Test]
    public void Should_count_a_compressed_files_input_and_show_its_text() =>
        Assert.That((At(9_000, 3_000).ObjectBytesRead, At(9_000, 3_000).UncompressedBytesRead), Is.EqualTo((3_000L, (long?)9_000)));

    [Test]
    public void Should_count_a_converted_files_own_bytes_and_show_no_uncompressed_size()
    {
        // A UTF-16 file: 2,000 bytes of UTF-8 text read from 4,000 of the object.
        var utf16 = At(2_000, 4_000, converted: true);
        Assert.That((utf16.ObjectBytesRead, utf16.UncompressedBytesRead), Is.EqualTo((4_000L, (long?)null)));
    }

    [Test]
    public void Should_show_no_uncompressed_size_for_parquet() =>
        Assert.That(At(500, 4_000, rowsTotal: 1_000).UncompressedBytesRead, Is.Null);
}
