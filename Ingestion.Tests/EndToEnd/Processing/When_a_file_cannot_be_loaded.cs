using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.S3.Model;
using Ingestion.Contracts.Uploads;
using Ingestion.Tests.Infrastructure;
using MassTransit;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// File-level problems fail the job before any row is committed, with a message that
/// says what is wrong. Files go in through the API, or straight onto the bus as an
/// internal service would start a job for an object already in S3.
/// </summary>
public sealed class When_a_file_cannot_be_loaded
{
    private HttpClient _acme = null!;
    private BusClient _bus = null!;

    [OneTimeSetUp]
    public async Task ConnectAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _bus = await BusClient.ConnectAsync(TestRun.Shared.Sandbox);
    }

    [OneTimeTearDown]
    public async Task DisconnectAsync()
    {
        _acme.Dispose();
        await _bus.DisposeAsync();
    }

    [TestCase("transaction_id,account_id,amount,currency\n{row}\n", "missing_columns",
        "The header lacks required column occurred_at of dataset 'transactions'.")]
    [TestCase("transaction_id,account_id,occurred_at,amount,currency,Amount\n{row}\n", "duplicate_header",
        "The header names 'Amount' twice (columns 4 and 6).")]
    [TestCase("transaction_id,account_id,occurred_at,amount,currency,iban\n{row}\n", "unknown_columns",
        "The header has column iban that dataset 'transactions' does not have (register them, or set ignoreUnknownColumns).")]
    [TestCase("{row}\n{row}\n", "missing_columns", "The first line does not look like a header")]
    [TestCase("\n\n\r\n", "no_header", "The file has no header line: it holds only empty lines.")]
    [TestCase("%PDF-1.7\n{row}\n", "not_text", "The file is not CSV text: it is a PDF document.")]
    public async Task Should_fail_the_job_with_a_precise_message_and_load_nothing(string content, string code, string message)
    {
        var csv = new TestCsv();
        var bytes = Encoding.UTF8.GetBytes(content.Replace("{row}", csv.Row(1), StringComparison.Ordinal));

        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", bytes));

        AssertFailed(job, code, message);
        Assert.That(await RowsAsync(csv), Is.Zero);
    }

    [Test]
    public async Task Should_read_a_utf16_file_by_its_byte_order_mark_rather_than_refuse_it()
    {
        var csv = new TestCsv();
        var bytes = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes(TestCsv.Header + "\n" + csv.Row(1))).ToArray();

        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", bytes));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(await RowsAsync(csv), Is.EqualTo(1));
    }

    [Test]
    public async Task Should_fail_an_empty_object_submitted_on_the_bus()
    {
        var sandbox = TestRun.Shared.Sandbox;
        var jobId = NewId.NextGuid();
        var key = $"partner-drops/{jobId:N}.csv";
        await sandbox.S3.PutObjectAsync(new PutObjectRequest { BucketName = sandbox.Bucket, Key = key, ContentBody = "", UseChunkEncoding = false });

        await _bus.Bus.Publish(new SubmitUpload(jobId, "acme", "transactions", sandbox.Bucket, key));
        var job = await _acme.WaitForJobEndAsync(jobId);

        AssertFailed(job, "empty_file", "The file is empty.");
        Assert.That(await sandbox.ObjectKeysAsync(key), Is.EqualTo(new[] { key }), "a failed job keeps its object for a retry");
    }

    [Test]
    public async Task Should_load_an_object_submitted_on_the_bus_by_an_internal_service()
    {
        var sandbox = TestRun.Shared.Sandbox;
        var csv = new TestCsv();
        var jobId = NewId.NextGuid();
        var key = $"partner-drops/{jobId:N}.csv";
        await sandbox.S3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = sandbox.Bucket, Key = key, InputStream = new MemoryStream(csv.Transactions(40)), UseChunkEncoding = false,
        });

        await _bus.Bus.Publish(new SubmitUpload(jobId, "acme", "transactions", sandbox.Bucket, key));
        var job = await _acme.WaitForJobEndAsync(jobId);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["bytes"]!.GetValue<long>(), Is.EqualTo(csv.Transactions(40).Length));
        Assert.That(await RowsAsync(csv), Is.EqualTo(40));
    }

    [Test]
    public async Task Should_fail_a_job_whose_object_does_not_exist()
    {
        var jobId = NewId.NextGuid();
        await _bus.Bus.Publish(new SubmitUpload(jobId, "acme", "transactions", TestRun.Shared.Sandbox.Bucket, "nowhere/missing.csv"));

        AssertFailed(await _acme.WaitForJobEndAsync(jobId), "object_missing", "does not exist");
    }

    [Test]
    public async Task Should_fail_a_job_when_rejects_pass_the_datasets_limit_and_keep_what_came_before()
    {
        var name = "capped_" + Guid.NewGuid().ToString("N")[..8];
        (await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name, columns = new[] { new { name = "id", type = "integer" } }, maxRejectedRows = 2,
        })).EnsureSuccessStatusCode();
        var rows = string.Join('\n', Enumerable.Range(1, 2000).Select(i => i % 400 == 0 ? "x" : i.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync(name, Encoding.UTF8.GetBytes("id\n" + rows + "\n")));

        AssertFailed(job, "reject_limit", "more than the dataset's limit of 2");
        var loaded = await TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{name}");
        Assert.That(loaded, Is.EqualTo(job["progress"]!["rowsLoaded"]!.GetValue<long>()), "the job says how much is in the table");
        Assert.That(loaded, Is.GreaterThan(0).And.LessThan(2000 - 5));
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(new long[] { 401, 801, 1201 }), "every reject found before the job stopped");
    }

    private static void AssertFailed(JsonNode job, string code, string message)
    {
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo(code));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.Contain(message));
    }

    private static Task<long> RowsAsync(TestCsv csv) => TestRun.Shared.Sandbox.ScalarAsync<long>(
        "select count(*) from tenant_acme.transactions where transaction_id = any(@ids)",
        ("ids", Enumerable.Range(1, 100).Select(csv.Id).ToArray()));
}
