using System.Net;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Statements;

/// <summary>
/// A tenant cancels a statement while it renders: the worker stops at its next progress tick
/// and discards the unfinished file; a retry renders it whole.
/// </summary>
public sealed class When_a_statement_is_cancelled
{
    private const int Lines = 60_000;
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        var csv = new StringBuilder(TestCsv.Header).Append('\n');
        for (var i = 1; i <= Lines; i++)
        {
            csv.Append($"{Guid.NewGuid()},{_account},2026-03-{1 + i % 28:00}T{i / 60 % 24:00}:{i % 60:00}:00Z,{i % 900}.00,CHF,Shop {i % 40},misc,Line {i}\n");
        }

        var load = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes(csv.ToString())), 120);
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_stop_rendering_leave_no_document_and_render_it_whole_on_retry()
    {
        var job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = _account, from = "2026-03-01", to = "2026-03-31" });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await _acme.GetJsonAsync($"/v1/jobs/{job}"))["progress"]!["pagesRendered"]!.GetValue<int>() == 0)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the statement never started rendering");
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

        // The worker notices within a progress tick; then nothing of the file is left in S3.
        await Task.Delay(1000);
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"documents/acme/{job:N}"), Is.Empty);

        using (var retry = await _acme.PostAsync($"/v1/jobs/{job}/retry", null))
        {
            Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        var ready = await _acme.WaitForJobAsync(job, TimeSpan.FromSeconds(120), "ready");
        var (pdf, link) = await Pdfs.DownloadAsync(_acme, job);
        Assert.That(link["contentType"]!.GetValue<string>(), Is.EqualTo("application/pdf"), "one volume at this size");
        Assert.That(Pdfs.Pages(pdf), Has.Count.EqualTo(ready["progress"]!["pagesTotal"]!.GetValue<int>()));
        Assert.That(ready["progress"]!["linesRendered"]!.GetValue<long>(), Is.EqualTo(Lines));
    }
}
