using System.Text;
using Ingestion.Workers.Copy;

namespace Ingestion.Tests.Unit;

public sealed class Rejected_records
{
    [Test]
    public void Should_keep_a_record_up_to_the_cap_exactly_as_it_was()
    {
        var record = Encoding.UTF8.GetBytes(new string('x', 4096));
        Assert.That(RejectedRecord.Keep(record, 4096), Is.EqualTo(record));
    }

    [Test]
    public void Should_cut_a_longer_record_at_the_cap_and_say_its_whole_length()
    {
        var kept = RejectedRecord.Keep(Encoding.UTF8.GetBytes(new string('x', 5000)), 4096);
        Assert.That(Encoding.UTF8.GetString(kept), Is.EqualTo(new string('x', 4096) + "…[truncated: 5000 bytes]"));
    }

    [Test]
    public void Should_not_split_a_character_where_it_cuts()
    {
        // "é" is two bytes: the cap falls between them, so the cut moves before it.
        var record = Encoding.UTF8.GetBytes(new string('x', 9) + "é" + new string('x', 20));
        var kept = Encoding.UTF8.GetString(RejectedRecord.Keep(record, 10));
        Assert.That(kept, Is.EqualTo(new string('x', 9) + "…[truncated: 31 bytes]"));
    }

    [Test]
    public void Should_write_into_a_buffer_what_it_keeps()
    {
        var record = Encoding.UTF8.GetBytes(new string('y', 300));
        var buffer = new byte[256 + RejectedRecord.MaxMarkerBytes];
        var length = RejectedRecord.Write(record, 256, buffer);
        Assert.That(buffer[..length], Is.EqualTo(RejectedRecord.Keep(record, 256)));
        Assert.That(length, Is.LessThanOrEqualTo(buffer.Length));
    }
}
