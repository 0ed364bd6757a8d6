using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Retention;

/// <summary>
/// Two workers purge every 2 seconds. Jobs are made old by moving their times back 8 days in
/// the database (retention keeps 7); a statement's document is made to expire the same way.
/// The old jobs go with their objects, audit trail and webhook rows; younger ones keep all of
/// theirs; an expired document is deleted while its job stays; and the purge runs once per
/// period, never twice, whichever worker runs it.
/// </summary>
public sealed partial class When_jobs_outlive_their_retention
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(2);
    private Deployment _stack = null!;
    private HttpClient _acme = null!;
    private Guid _oldCompleted, _oldFailed, _oldStatement, _youngCompleted, _youngFailed, _expiredDocument, _oldOwing;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _stack = await Deployment.StartAsync(TestRun.Servers, "retention", new Dictionary<string, string>
        {
            ["Retention__Period"] = "00:00:02",

            // The callback host never resolves; allow-listed so the job is accepted and owes a webhook,
            // which gives up after one quick retry (retention waits for owed webhooks).
            ["Webhooks__AllowedHosts__0"] = "hooks.example.com",
            ["Webhooks__Backoff__0"] = "00:00:00.200",
        }, workers: 2);
        _acme = _stack.Client(Keys.Acme);

        _oldCompleted = await UploadWithCallbackAsync(WithBadRow());
        _youngCompleted = await UploadWithCallbackAsync(WithBadRow());
        _oldFailed = await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes("transaction_id,amount\nx,1\n"));
        _oldOwing = await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes("transaction_id,amount\nx,1\n"));
        _youngFailed = await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes("transaction_id,amount\nx,1\n"));
        _oldStatement = await StatementAsync();
        _expiredDocument = await StatementAsync();
        foreach (var (job, status) in new[]
                 {
                     (_oldCompleted, "completed"), (_youngCompleted, "completed"), (_oldFailed, "failed"), (_youngFailed, "failed"),
                     (_oldOwing, "failed"),
                     (_oldStatement, "ready"), (_expiredDocument, "ready"),
                 })
        {
            var ended = await _acme.WaitForJobEndAsync(job, 90);
            Assert.That(ended["status"]!.GetValue<string>(), Is.EqualTo(status), ended.ToJsonString());
        }

        // The webhook sender's attempts (the host does not resolve, so they are recorded as errors), then its giving up.
        var attempted = DateTime.UtcNow.AddSeconds(30);
        while (await _stack.Sandbox.ScalarAsync<long>("""
                   select count(*) from ingestion.webhook_deliveries where job_id = @job and status = 'gave_up'
                   """, ("job", _oldCompleted)) == 0 && DateTime.UtcNow < attempted)
        {
            await Task.Delay(100);
        }

        Assert.That(await RowsAsync(_oldCompleted), Is.EqualTo(new Rows(true, true, true, true)), "the old job had rows of every kind");
        Assert.That(await ObjectsAsync(_oldFailed, _oldCompleted, _oldStatement), Is.EqualTo(3), "the old jobs had their objects");

        await _stack.Sandbox.ExecuteAsync("""
            update ingestion.jobs set created_at = created_at - interval '8 days', updated_at = updated_at - interval '8 days'
            where job_id = any(@old)
            """, ("old", new[] { _oldCompleted, _oldFailed, _oldStatement, _oldOwing }));

        // An old job whose receiver is still owed its webhook (the next attempt is hours away).
        await _stack.Sandbox.ExecuteAsync("""
            insert into ingestion.webhook_deliveries (id, job_id, tenant_id, url, payload, next_attempt_at)
            values (gen_random_uuid(), @job, 'acme', 'https://hooks.example.com/owed', '{}', now() + interval '6 hours')
            """, ("job", _oldOwing));
        await _stack.Sandbox.ExecuteAsync("""
            update ingestion.jobs set data = jsonb_set(data, '{expiresAt}', to_jsonb(now() - interval '1 day')) where job_id = @job
            """, ("job", _oldStatement));
        await _stack.Sandbox.ExecuteAsync("""
            update ingestion.jobs set data = jsonb_set(data, '{expiresAt}', to_jsonb(now() - interval '1 minute')) where job_id = @job
            """, ("job", _expiredDocument));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !(await GoneAsync(_oldCompleted) && await GoneAsync(_oldFailed) && await GoneAsync(_oldStatement)
                                               && await DocumentDeletedAsync()))
        {
            await Task.Delay(250);
        }

        // Long enough for several periods, so that a second run in one period would show.
        await Task.Delay(Period * 2);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _stack.DisposeAsync();
    }

    [Test]
    public async Task Should_purge_the_old_jobs()
    {
        foreach (var job in new[] { _oldCompleted, _oldFailed, _oldStatement })
        {
            using var response = await _acme.GetAsync($"/v1/jobs/{job}");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"job {job}");
        }
    }

    [Test]
    public async Task Should_delete_their_upload_rejects_file_and_document() =>
        Assert.That(await ObjectsAsync(_oldFailed, _oldCompleted, _oldStatement), Is.Zero);

    [Test]
    public async Task Should_delete_their_history_webhooks_and_checkpoints()
    {
        foreach (var job in new[] { _oldCompleted, _oldFailed, _oldStatement })
        {
            Assert.That(await RowsAsync(job), Is.EqualTo(new Rows(false, false, false, false)), $"job {job}");
        }
    }

    [Test]
    public async Task Should_keep_an_old_job_until_the_webhook_it_owes_is_settled()
    {
        using var response = await _acme.GetAsync($"/v1/jobs/{_oldOwing}");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "purged while its receiver was still owed a callback");
    }

    [Test]
    public async Task Should_keep_younger_jobs_with_everything_they_have()
    {
        foreach (var job in new[] { _youngCompleted, _youngFailed, _expiredDocument })
        {
            using var response = await _acme.GetAsync($"/v1/jobs/{job}");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"job {job}");
        }

        Assert.That(await RowsAsync(_youngCompleted), Is.EqualTo(new Rows(true, true, true, true)));
        Assert.That(await _stack.Sandbox.ObjectKeysAsync($"uploads/acme/{_youngFailed:N}.csv"), Has.Count.EqualTo(1),
            "a failed job keeps its upload for a retry");
        Assert.That(await _stack.Sandbox.ObjectKeysAsync($"rejects/acme/{_youngCompleted:N}.csv"), Has.Count.EqualTo(1));
        var rejects = await _acme.GetJsonAsync($"/v1/jobs/{_youngCompleted}");
        Assert.That((await Rejects.DownloadAsync(rejects["rejects"]!["url"]!.GetValue<string>())).Count, Is.EqualTo(1));
    }

    [Test]
    public async Task Should_delete_an_expired_document_and_say_so_while_its_job_stays()
    {
        var job = await _acme.GetJsonAsync($"/v1/jobs/{_expiredDocument}");
        var document = job["document"]!;
        Assert.That(document["expired"]!.GetValue<bool>(), Is.True, job.ToJsonString());
        Assert.That(document["deletedAt"], Is.Not.Null, job.ToJsonString());
        Assert.That(await _stack.Sandbox.ObjectKeysAsync($"documents/acme/{_expiredDocument:N}/"), Is.Empty);
        using var download = await _acme.GetAsync($"/v1/jobs/{_expiredDocument}/download");
        Assert.That(download.StatusCode, Is.EqualTo(HttpStatusCode.Gone));
    }

    [Test]
    public async Task Should_run_once_per_period_across_both_workers()
    {
        var runs = _stack.Workers
            .SelectMany(w => RunLine().Matches(w.Log()).Select(m => DateTimeOffset.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)))
            .Order()
            .ToList();
        Assert.That(runs, Has.Count.GreaterThanOrEqualTo(3), "several periods passed");
        for (var i = 1; i < runs.Count; i++)
        {
            Assert.That(runs[i] - runs[i - 1], Is.GreaterThanOrEqualTo(Period), $"runs at {runs[i - 1]:O} and {runs[i]:O}");
        }

        var last = await _stack.Sandbox.ScalarAsync<DateTime>("select last_run_at from ingestion.maintenance where task = 'retention'");
        Assert.That(new DateTimeOffset(last, TimeSpan.Zero), Is.GreaterThanOrEqualTo(runs[^1]), "the maintenance row holds the last run");
    }

    private sealed record Rows(bool Events, bool Deliveries, bool Attempts, bool Checkpoint);

    private async Task<Rows> RowsAsync(Guid job) => new(
        await CountAsync("select count(*) from ingestion.job_events where job_id = @job", job) > 0,
        await CountAsync("select count(*) from ingestion.webhook_deliveries where job_id = @job", job) > 0,
        await CountAsync("""
            select count(*) from ingestion.webhook_attempts a join ingestion.webhook_deliveries d on d.id = a.delivery_id
            where d.job_id = @job
            """, job) > 0,
        await CountAsync("select count(*) from ingestion.upload_checkpoints where job_id = @job", job) > 0);

    private async Task<long> CountAsync(string sql, Guid job) => await _stack.Sandbox.ScalarAsync<long>(sql, ("job", job));

    /// <summary>The failed job's upload, the completed job's rejects file, the statement's document.</summary>
    private async Task<int> ObjectsAsync(Guid failed, Guid completed, Guid statement) =>
        (await _stack.Sandbox.ObjectKeysAsync($"uploads/acme/{failed:N}.csv")).Count
        + (await _stack.Sandbox.ObjectKeysAsync($"rejects/acme/{completed:N}.csv")).Count
        + (await _stack.Sandbox.ObjectKeysAsync($"documents/acme/{statement:N}/")).Count;

    private async Task<bool> GoneAsync(Guid job)
    {
        using var response = await _acme.GetAsync($"/v1/jobs/{job}");
        return response.StatusCode == HttpStatusCode.NotFound;
    }

    private async Task<bool> DocumentDeletedAsync() =>
        (await _acme.GetJsonAsync($"/v1/jobs/{_expiredDocument}"))["document"]?["deletedAt"] is not null;

    /// <summary>Five rows no other file has, and one that is rejected.</summary>
    private static byte[] WithBadRow() =>
        Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(new TestCsv().Transactions(5)) + "not-a-uuid,1,2026-01-01T00:00:00Z,1.00,CHF,,,bad id\n");

    private async Task<Guid> UploadWithCallbackAsync(byte[] csv)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("https://hooks.example.com/ingestion"), "callbackUrl");
        var file = new ByteArrayContent(csv);
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "transactions.csv");
        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", form);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    private async Task<Guid> StatementAsync()
    {
        using var response = await _acme.PostAsJsonAsync("/v1/statements", new { accountId = 7, from = "2026-01-01", to = "2026-01-31" });
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    [GeneratedRegex(@"Retention run (\S+) claimed")]
    private static partial Regex RunLine();
}
