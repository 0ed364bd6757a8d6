using System.IO.Compression;
using System.Net;
using System.Text;
using Amazon.S3.Model;
using Ingestion.Contracts.Statements;
using Ingestion.Tests.Infrastructure;
using MassTransit;

namespace Ingestion.Tests.EndToEnd.Statements;

/// <summary>
/// A stack whose volumes are tiny (a megabyte of estimated memory, a line page costing a
/// quarter of it), whose documents expire after seconds and whose attachments are small:
/// so a statement of a few hundred lines comes as volumes, and expiry can be watched.
/// </summary>
public sealed class When_a_statement_is_large_or_old
{
    private const int Lines = 300;
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);
    private Deployment _deployment = null!;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _deployment = await Deployment.StartAsync(TestRun.Servers, "volumes", new Dictionary<string, string>
        {
            ["Statements__VolumeMemoryBudgetBytes"] = "1048576",
            ["Statements__LinePageBytes"] = "262144",
            ["Statements__DocumentRetention"] = "00:00:15",
            ["Statements__MaxAttachmentBytes"] = "100000",
        });
        _acme = _deployment.Client(Keys.Acme);
        var csv = new StringBuilder(TestCsv.Header).Append('\n');
        for (var i = 1; i <= Lines; i++)
        {
            csv.Append($"{Guid.NewGuid()},{_account},2026-02-01T{i / 60 % 24:00}:{i % 60:00}:00Z,{i}.00,CHF,Shop,misc,Line {i:000}\n");
        }

        var load = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes(csv.ToString())));
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _deployment.DisposeAsync();
    }

    [Test, Order(1)]
    public async Task Should_split_a_statement_too_large_for_one_document_into_volumes_in_a_zip()
    {
        var job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = _account, from = "2026-02-01", to = "2026-02-28" });
        var ready = await _acme.WaitForJobEndAsync(job, 60);
        Assert.That(ready["status"]!.GetValue<string>(), Is.EqualTo("ready"), ready.ToJsonString());

        var (zip, link) = await Pdfs.DownloadAsync(_acme, job);

        Assert.That(link["contentType"]!.GetValue<string>(), Is.EqualTo("application/zip"));
        using var archive = new ZipArchive(new MemoryStream(zip));
        var volumes = archive.Entries.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        // 300 lines are 7 line pages; a volume holds 4 pages' worth: cover and analytics (3) + 1, then 4, then 2.
        Assert.That(volumes.Select(v => v.Name), Is.EqualTo(new[]
        {
            $"statement-{_account}-20260201-20260228-volume-1-of-3.pdf",
            $"statement-{_account}-20260201-20260228-volume-2-of-3.pdf",
            $"statement-{_account}-20260201-20260228-volume-3-of-3.pdf",
        }));
        var pages = volumes.Select(v => Pdfs.Pages(Pdfs.Read(v))).ToList();
        Assert.That(pages.Select(p => p.Count), Is.EqualTo(new[] { 4, 4, 2 }));
        Assert.That(pages[1][0], Does.Contain("Volume 2 of 3").And.Contain("Page 1 of 4"));
        Assert.That(pages[0][3], Does.Contain("Line 001"));
        Assert.That(pages[2][1], Does.Contain("Line 300"));
        Assert.That(ready["progress"]!["volumes"]!.GetValue<int>(), Is.EqualTo(3));
    }

    [Test, Order(2)]
    public async Task Should_say_the_document_expired_once_its_retention_is_over()
    {
        var job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = _account, from = "2026-02-01", to = "2026-02-01" });
        var ready = await _acme.WaitForJobEndAsync(job, 60);
        Assert.That(ready["document"]!["expired"]!.GetValue<bool>(), Is.False);

        await Task.Delay(ready["document"]!["expiresAt"]!.GetValue<DateTimeOffset>() - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1));
        var expired = await _acme.GetJsonAsync($"/v1/jobs/{job}");
        using var download = await _acme.GetAsync($"/v1/jobs/{job}/download");

        Assert.That(expired["document"]!["expired"]!.GetValue<bool>(), Is.True);
        Assert.That(expired["links"]!["download"], Is.Null);
        Assert.That(download.StatusCode, Is.EqualTo(HttpStatusCode.Gone));
        Assert.That((await download.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("The statement has expired"));
    }

    [Test]
    public async Task Should_refuse_an_attachment_over_the_limit_with_413()
    {
        using var content = new ByteArrayContent(new byte[100_001]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/pdf");

        using var response = await _acme.PostAsync($"/v1/accounts/{_account + 1}/documents", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(await _deployment.Sandbox.ObjectKeysAsync($"attachments/acme/{_account + 1}/"), Is.Empty);
    }

    [Test]
    public async Task Should_fail_with_the_reason_when_an_attachment_became_unreadable_and_refuse_the_download()
    {
        var account = _account + 2;
        using (var content = new ByteArrayContent(Pdfs.Make("fine for now")))
        {
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/pdf");
            (await _acme.PostAsync($"/v1/accounts/{account}/documents", content)).EnsureSuccessStatusCode();
        }

        var key = (await _deployment.Sandbox.ObjectKeysAsync($"attachments/acme/{account}/")).Single();
        await _deployment.Sandbox.S3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = _deployment.Sandbox.Bucket, Key = key, ContentBody = "no longer a PDF", UseChunkEncoding = false,
        });

        var job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = account, from = "2026-02-01", to = "2026-02-28" });
        var failed = await _acme.WaitForJobEndAsync(job, 60);
        using var download = await _acme.GetAsync($"/v1/jobs/{job}/download");

        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"));
        Assert.That(failed["error"]!["code"]!.GetValue<string>(), Is.EqualTo("attachment_unreadable"));
        Assert.That(download.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That((await download.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("is failed"));
    }

    [Test]
    public async Task Should_render_a_statement_requested_on_the_bus()
    {
        await using var bus = await BusClient.ConnectAsync(_deployment.Sandbox);
        var job = NewId.NextGuid();

        await bus.Bus.Publish(new BuildStatement(job, "acme", _account, new DateOnly(2026, 2, 1), new DateOnly(2026, 2, 1)));
        var ready = await _acme.WaitForJobEndAsync(job, 60);

        Assert.That(ready["status"]!.GetValue<string>(), Is.EqualTo("ready"), ready.ToJsonString());
        Assert.That(ready["progress"]!["linesTotal"]!.GetValue<long>(), Is.GreaterThan(0));
    }
}
