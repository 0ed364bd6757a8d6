using System.Text;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Csv;

namespace Ingestion.Tests.Unit;

public sealed class File_checks
{
    [Test]
    public void Should_match_header_names_in_any_order_and_case()
    {
        var (map, problem) = HeaderMap.Build(BuiltInDatasets.Transactions,
            ["Amount", " CURRENCY", "transaction_id", "account_id", "occurred_at"]);

        Assert.That(problem, Is.Null);
        Assert.That(map!.Columns.Select(c => (c.Column.Name, c.Field)), Is.EqualTo(new[]
        {
            ("transaction_id", 2), ("account_id", 3), ("occurred_at", 4), ("amount", 0), ("currency", 1),
        }));
    }

    [Test]
    public void Should_name_the_missing_required_columns() =>
        Assert.That(HeaderMap.Build(BuiltInDatasets.Transactions, ["transaction_id", "account_id", "merchant"]).Problem,
            Is.EqualTo(new FileProblem("missing_columns",
                "The header lacks required columns occurred_at, amount, currency of dataset 'transactions'.")));

    [Test]
    public void Should_name_duplicate_header_names() =>
        Assert.That(HeaderMap.Build(BuiltInDatasets.Transactions, ["transaction_id", "Amount", "amount"]).Problem!.Message,
            Is.EqualTo("The header names 'amount' twice (columns 2 and 3)."));

    [Test]
    public void Should_say_when_the_first_line_is_data_rather_than_a_header() =>
        Assert.That(HeaderMap.Build(BuiltInDatasets.Transactions, ["6f1c2d6e-1111-4c4c-9a9a-000000000001", "42", "12.50"]).Problem!.Message,
            Does.StartWith("The first line does not look like a header"));

    [Test]
    public void Should_refuse_unknown_columns_unless_the_dataset_ignores_them()
    {
        string[] header = ["transaction_id", "account_id", "occurred_at", "amount", "currency", "iban"];
        Assert.That(HeaderMap.Build(BuiltInDatasets.Transactions, header).Problem!.Code, Is.EqualTo("unknown_columns"));
        Assert.That(HeaderMap.Build(BuiltInDatasets.Transactions with { IgnoreUnknownColumns = true }, header).Problem, Is.Null);
    }

    [TestCase(new byte[] { 0x50, 0x4B, 0x03, 0x04, 0x14 }, "ZIP archive")]
    [TestCase(new byte[] { 0x1F, 0x8B, 0x08 }, "gzip")]
    [TestCase(new byte[] { 0x28, 0xB5, 0x2F, 0xFD, 0x04 }, "zstd")]
    [TestCase(new byte[] { 0x50, 0x41, 0x52, 0x31, 0x15 }, "Parquet")]
    [TestCase(new byte[] { 0x25, 0x50, 0x44, 0x46, 0x2D }, "PDF")]
    [TestCase(new byte[] { 0x61, 0x2C, 0x62, 0x0A, 0x00, 0x01 }, "NUL byte at offset 4")]
    public void Should_tell_what_a_file_that_is_not_text_is(byte[] head, string what)
    {
        var problem = FileSniffer.Check(head);
        Assert.That(problem!.Code, Is.EqualTo("not_text"));
        Assert.That(problem.Message, Does.Contain(what));
    }

    [Test]
    public void Should_pass_utf16_text_read_as_utf16_whose_nul_bytes_are_characters() =>
        Assert.That(FileSniffer.Check([0xFF, 0xFE, 0x61, 0x00, 0x2C, 0x00], utf16: true), Is.Null);

    [Test]
    public void Should_tell_a_compression_by_its_magic_bytes_alone_for_the_key_the_reader_and_the_sniffer_alike()
    {
        byte[] gzip = [0x1F, 0x8B, 0x08, 0x00], zstd = [0x28, 0xB5, 0x2F, 0xFD], text = "id,n"u8.ToArray(), cut = [0x28, 0xB5];

        Assert.That(new[] { gzip, zstd, text, cut, [] }.Select(h => CompressionMagic.Of(h)), Is.EqualTo(new[]
        {
            SourceCompression.Gzip, SourceCompression.Zstd, SourceCompression.None, SourceCompression.None, SourceCompression.None,
        }));
        var job = Guid.Parse("00000000-0000-4000-8000-000000000001");
        Assert.That(UploadFormat.KeyFor("acme", job, UploadFormat.Csv, zstd), Is.EqualTo($"uploads/acme/{job:N}.csv.zst"));
        Assert.That(FileSniffer.Check(gzip)!.Message, Does.Contain("it is gzip-compressed"));
        Assert.That(FileSniffer.Check(zstd)!.Message, Does.Contain("it is zstd-compressed"));
    }

    [Test]
    public void Should_pass_csv_text_with_a_bom() =>
        Assert.That(FileSniffer.Check([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("a,b\nZürich,1\n")]), Is.Null);
}
