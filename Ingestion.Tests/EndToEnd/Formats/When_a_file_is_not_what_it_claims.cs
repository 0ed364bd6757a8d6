using System.IO.Compression;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// A file sent as CSV that is something else fails its job at once, before a row is read, with a message that says
/// what the file is: nothing is loaded and no row is rejected one by one.
/// </summary>
public sealed class When_a_file_is_not_what_it_claims
{
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    private static IEnumerable<TestCaseData> Files()
    {
        var csv = Encoding.UTF8.GetBytes(TestCsv.Header + "\n" + new TestCsv().Row(1) + "\n");
        var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = archive.CreateEntry("export.csv").Open();
            entry.Write(csv);
        }

        // A Parquet file starts and ends with PAR1; what lies between does not matter to the check.
        byte[] parquet = [.. "PAR1"u8, 0x15, 0x04, 0x15, 0x10, .. new byte[64], .. "PAR1"u8];

        // A compressed upload is sniffed inside: a gzip of a ZIP archive is a ZIP archive.
        var zipInGzip = new MemoryStream();
        using (var compressor = new GZipStream(zipInGzip, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(zip.ToArray());
        }

        yield return new TestCaseData(parquet, "format_mismatch", "The file is declared csv but is not: it is a Parquet file; declare format=parquet.").SetArgDisplayNames("parquet");
        yield return new TestCaseData(zip.ToArray(), "not_text", "The file is not CSV text: it is a ZIP archive (an .xlsx workbook is one); export the sheet as CSV.").SetArgDisplayNames("zip");
        yield return new TestCaseData(zipInGzip.ToArray(), "not_text", "The file is not CSV text: it is a ZIP archive (an .xlsx workbook is one); export the sheet as CSV.").SetArgDisplayNames("zip.gz");
    }

    [TestCaseSource(nameof(Files))]
    public async Task Should_fail_the_job_at_once_saying_what_the_file_is(byte[] file, string code, string message)
    {
        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", file));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo(code));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Is.EqualTo(message));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>() + job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
    }
}
