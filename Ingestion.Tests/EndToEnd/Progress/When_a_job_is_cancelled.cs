using System.Net;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Progress;

/// <summary>
/// A tenant cancels its running upload: it stops at a batch boundary, keeps what it committed
/// and says after which line; an operator retries it later and it finishes from there. The
/// audit trail names who did each step.
/// </summary>
public sealed class When_a_job_is_cancelled
{
    private const int Rows = 20_000;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private HttpClient _ops = null!;
    private string _dataset = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        _ops = TestRun.Shared.Client(Keys.Ops);
        _dataset = await SlowDataset.CreateAsync(_acme, "acme", millisecondsPerBatch: 100);
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
        _ops.Dispose();
    }

    [Test]
    public async Task Should_stop_at_a_batch_boundary_keep_committed_rows_and_finish_on_retry_with_every_step_audited()
    {
        var jobId = await _acme.StartUploadAsync(_dataset, SlowDataset.Rows(Rows, 1));
        await WaitAsync(jobId, job => job["progress"]!["rowsLoaded"]!.GetValue<long>() > 0);

        using (var foreign = await _globex.PostAsync($"/v1/jobs/{jobId}/cancel", null))
        {
            Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "another tenant cannot cancel it");
        }

        using (var cancel = await _acme.PostAsync($"/v1/jobs/{jobId}/cancel", null))
        {
            Assert.That(cancel.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        var stopped = await WaitAsync(jobId, job => job["cancellation"]?["stoppedAfterLine"] is not null);
        Assert.That(stopped["status"]!.GetValue<string>(), Is.EqualTo("cancelled"));
        Assert.That(stopped["cancellation"]!["by"]!.GetValue<string>(), Does.StartWith("tenant:acme/key:"));
        Assert.That(stopped["links"]!["retry"]!.GetValue<string>(), Is.EqualTo($"/v1/jobs/{jobId}/retry"));
        var line = stopped["cancellation"]!["stoppedAfterLine"]!.GetValue<long>();
        var loaded = await CountAsync();
        Assert.That(loaded, Is.EqualTo(line - 1), "every line up to where it stopped is loaded (line 1 is the header), and none after");
        Assert.That(loaded, Is.EqualTo(stopped["progress"]!["rowsLoaded"]!.GetValue<long>()));
        Assert.That(loaded % 500, Is.Zero, "it stopped at a batch boundary");
        Assert.That(loaded, Is.LessThan(Rows));

        await Task.Delay(500);
        Assert.That(await CountAsync(), Is.EqualTo(loaded), "nothing is loaded after the stop");
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"uploads/acme/{jobId:N}"), Has.Count.EqualTo(1),
            "the object stays for a retry");
        using (var again = await _acme.PostAsync($"/v1/jobs/{jobId}/cancel", null))
        {
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "an ended job cannot be cancelled");
        }

        using (var retry = await _ops.PostAsync($"/v1/jobs/{jobId}/retry", null))
        {
            Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }

        var done = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");
        Assert.That(done["cancellation"], Is.Null);
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(await CountAsync(), Is.EqualTo(Rows));
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(distinct entry) from tenant_acme.{_dataset}"),
            Is.EqualTo(Rows));

        var history = (await _acme.GetJsonAsync($"/v1/jobs/{jobId}/history"))["events"]!.AsArray()
            .Select(e => Step(e!)).ToList();
        Assert.That(history, Is.EqualTo(new[]
        {
            "transition Initial>Uploaded SubmitUpload by tenant",
            "transition Uploaded>Processing UploadProcessingStarted by system",
            "action CancelJob by tenant",
            "transition Processing>Cancelled CancelJob by tenant",
            "action RetryJob by ops",
            "transition Cancelled>Uploaded RetryJob by ops",
            "transition Uploaded>Processing UploadProcessingStarted by system",
            "transition Processing>Completed UploadProcessed by system",
        }), string.Join("\n", history));

        using var foreignHistory = await _globex.GetAsync($"/v1/jobs/{jobId}/history");
        Assert.That(foreignHistory.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private static string Step(JsonNode e)
    {
        var actor = e["actor"]!.GetValue<string>();
        var who = actor.StartsWith("tenant:acme/key:", StringComparison.Ordinal) ? "tenant"
            : actor.StartsWith("ops/key:", StringComparison.Ordinal) ? "ops"
            : actor;
        var change = e["type"]!.GetValue<string>() == "transition" ? $" {e["from"]}>{e["to"]}" : "";
        return $"{e["type"]}{change} {e["what"]} by {who}";
    }

    private async Task<JsonNode> WaitAsync(Guid jobId, Func<JsonNode, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonNode job;
        do
        {
            job = await _acme.GetJsonAsync($"/v1/jobs/{jobId}");
            if (condition(job))
            {
                return job;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"Job {jobId} never got there: {job.ToJsonString()}");
        return job;
    }

    private Task<long> CountAsync() =>
        TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{_dataset}");
}
