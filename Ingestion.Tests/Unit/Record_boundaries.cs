using System.Text;
using Ingestion.Workers.Csv;

namespace Ingestion.Tests.Unit;

/// <summary>
/// The chunk scan must cut only where CsvHelper ends a record, and count lines as it does, or a
/// chunk would start mid-record or report another line than a one-chunk load.
/// </summary>
public sealed class Record_boundaries
{
    [TestCase(1, 1)]
    [TestCase(7, 2)]
    [TestCase(1 << 20, 3)]
    public async Task Should_find_exactly_the_record_ends_CsvHelper_finds(int readSize, int seed)
    {
        var csv = RandomCsv(new Random(seed), records: 2000);
        var headerEnd = Array.IndexOf(csv, (byte)'\n');
        var expected = RecordEnds(csv);

        var found = new List<(long Offset, long Line)>();
        using var boundaries = new RecordBoundaries(new TrickleStream(csv[headerEnd..], readSize), headerEnd, 1);
        while (await boundaries.NextAsync(found.Count == 0 ? headerEnd + 1 : found[^1].Offset + 1, CancellationToken.None) is { } next)
        {
            found.Add(next);
        }

        // Every record's end is a boundary, with its line; the only others are the breaks of empty lines.
        Assert.That(expected.Select(e => (e.Offset, e.Line)).Except(found), Is.Empty);
        var insideRecords = found.Where(b => expected.Any(e => b.Offset > e.Start && b.Offset < e.Offset)).ToList();
        Assert.That(insideRecords, Is.Empty, "no boundary falls inside a record (quoted line breaks included)");
        var others = found.Except(expected.Select(e => (e.Offset, e.Line))).Where(b => !IsEmptyLineBreak(csv, b.Offset))
            .Select(b => $"{b.Offset}: {Encoding.UTF8.GetString(csv[(int)Math.Max(0, b.Offset - 12)..(int)Math.Min(csv.Length, b.Offset + 4)])}");
        Assert.That(others, Is.Empty);
    }

    [Test]
    public async Task Should_skip_to_the_first_record_end_at_or_after_the_size_asked()
    {
        var csv = Encoding.UTF8.GetBytes("a,b\n1,\"x\ny\"\n2,z\n3,w\n");
        using var boundaries = new RecordBoundaries(new MemoryStream(csv[3..]), 3, 1);

        // Byte 8 is the quoted line break of record 1: not a boundary; its record ends at 11, on line 3.
        Assert.That(await boundaries.NextAsync(8, CancellationToken.None), Is.EqualTo((11L, 3L)));
        Assert.That(await boundaries.NextAsync(12, CancellationToken.None), Is.EqualTo((15L, 4L)));
        Assert.That(await boundaries.NextAsync(19, CancellationToken.None), Is.EqualTo((19L, 5L)));
        Assert.That(await boundaries.NextAsync(20, CancellationToken.None), Is.Null);
    }

    private static List<(long Start, long Offset, long Line)> RecordEnds(byte[] csv)
    {
        var ends = new List<(long, long, long)>();
        using var records = new CsvRecords(new MemoryStream(csv), 0, 1, 1 << 20);
        records.Read(); // the header
        while (records.Read())
        {
            ends.Add((records.StartOffset, records.EndOffset, records.EndLine));
        }

        return ends;
    }

    private static bool IsEmptyLineBreak(byte[] csv, long offset) => csv[offset - 1] is (byte)'\n' or (byte)'\r';

    private static byte[] RandomCsv(Random random, int records)
    {
        string[] fields = ["plain", "", "\"a\nb\"", "\"x\r\ny\"", "\"he said \"\"hi\"\"\"", "\"a,b\"", "\"\"", "\"\"\"\"", "\"\n\"", "12.5"];
        var csv = new StringBuilder("id,text,more\n");
        for (var i = 0; i < records; i++)
        {
            csv.Append(i).Append(',').Append(fields[random.Next(fields.Length)]).Append(',').Append(fields[random.Next(fields.Length)]);
            csv.Append(random.Next(3) == 0 ? "\r\n" : "\n");
            if (random.Next(50) == 0)
            {
                csv.Append('\n');
            }
        }

        return Encoding.UTF8.GetBytes(csv.ToString());
    }

    /// <summary>Hands out at most a few bytes per read, so every state of the scan is split across reads.</summary>
    private sealed class TrickleStream(byte[] bytes, int readSize) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, readSize)], cancellationToken);
    }
}
