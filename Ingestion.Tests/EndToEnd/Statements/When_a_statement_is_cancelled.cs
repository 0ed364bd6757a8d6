using System.IO.Compression;
using System.Net;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Statements;

/// <summary>
/// A tenant cancels a statement while it is being written to S3: the worker stops at its next
/// progress tick and aborts the unfinished multipart upload; a retry renders it whole. A stack
/// of its own makes the writing visible: volumes of a megabyte's estimate, uncompressed, in
/// parts of S3's smallest size, so parts are uploaded while later volumes are still drawn.
/// </summary>
public sealed class When_a_statement_is_cancelled
{
    private const int Lines = 60_000;
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);
    private Deployment _deployment = null!;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _deployment = await Deployment.StartAsync(TestRun.Servers, "cancelling", new Dictionary<string, string>
        {
            ["Statements__VolumeMemoryBudgetBytes"] = "1048576",
            ["Statements__CompressContent"] = "false",
            ["S3__PartSizeBytes"] = "5242880",
        });
        _acme = _deployment.Client(Keys.Acme);
        var csv = new StringBuilder(TestCsv.Header).Append('\n');
        for (var i = 1; i <= Lines; i++)
        {
            csv.Append($"{Guid.NewGuid()},{_account},2026-03-{1 + i % 28:00}T{i / 60 % 24:00}:{i % 60:00}:00Z,{i % 900}.00,CHF,Shop {i % 40},misc,Line {i}\n");
        }

        var load = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes(csv.ToString())), 120);
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _deployment.DisposeAsync();
    }

    [Test]
    public async Task Should_stop_rendering_abort_its_upload_and_render_it_whole_on_retry()
    {
        var sandbox = _deployment.Sandbox;
        var job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = _account, from = "2026-03-01", to = "2026-03-31" });
        var folder = $"documents/acme/{job:N}/";
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await sandbox.PendingMultipartUploadsAsync(folder) == 0)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the statement never began writing to S3");
            await Task.Delay(20);
        }

        using (var cancel = await _acme.PostAsync($"/v1/jobs/{job}/cancel", null))
        {
            Assert.That(cancel.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        var cancelled = await _acme.WaitForJobEndAsync(job, 60);
        Assert.That(cancelled["status"]!.GetValue<string>(), Is.EqualTo("cancelled"), cancelled.ToJsonString());
        Assert.That(cancelled["document"], Is.Null);
        using (var download = await _acme.GetAsync($"/v1/jobs/{job}/download"))
        {
            Assert.That(download.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "a cancelled statement has nothing to download");
        }

        // The worker notices within a progress tick and aborts: no upload is left pending, no object stored.
        deadline = DateTime.UtcNow.AddSeconds(15);
        while (await sandbox.PendingMultipartUploadsAsync(folder) > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.That(await sandbox.PendingMultipartUploadsAsync(folder), Is.Zero, "the unfinished multipart upload is aborted");
        Assert.That(await sandbox.ObjectKeysAsync(folder), Is.Empty);

        using (var retry = await _acme.PostAsync($"/v1/jobs/{job}/retry", null))
        {
            Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        var ready = await _acme.WaitForJobAsync(job, TimeSpan.FromSeconds(120), "ready");
        var (zip, link) = await Pdfs.DownloadAsync(_acme, job);
        Assert.That(link["contentType"]!.GetValue<string>(), Is.EqualTo("application/zip"), "volumes at this size");
        using var archive = new ZipArchive(new MemoryStream(zip));
        Assert.That(archive.Entries.Sum(e => Pdfs.Pages(Pdfs.Read(e)).Count), Is.EqualTo(ready["progress"]!["pagesTotal"]!.GetValue<int>()));
        Assert.That(ready["progress"]!["linesRendered"]!.GetValue<long>(), Is.EqualTo(Lines));
        Assert.That(await sandbox.PendingMultipartUploadsAsync(folder), Is.Zero);
    }
}
