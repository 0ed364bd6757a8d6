using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// A job that stopped at its dataset's reject limit would stop again at once if retried as it
/// is (its counts already cross the limit). A retry without new limits is refused with a 409
/// that says so; a retry with raised limits resumes at the checkpoint and counts the whole file
/// against them, so the table and the rejects file end up exactly as one run would leave them.
/// </summary>
public sealed class When_a_job_is_retried_past_its_reject_limit
{
    private const int Rows = 2000;
    private static readonly long[] BadLines = [401, 801, 1201, 1601, 2001];
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_refuse_a_retry_without_new_limits_and_say_how_to_raise_them()
    {
        var (dataset, jobId, failed) = await FailOnTheLimitAsync();
        var loaded = await CountAsync(dataset);

        using var retry = await _acme.PostAsync($"/v1/jobs/{jobId}/retry", null);

        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        var problem = await retry.ProblemAsync();
        Assert.That(problem["title"]!.GetValue<string>(), Does.Contain("reject limit"));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("maxRejectedRows").And.Contain("maxRejectedRatio"));
        Assert.That(problem["rejectedRows"]!.GetValue<long>(), Is.EqualTo(3));
        Assert.That(problem["maxRejectedRows"]!.GetValue<long>(), Is.EqualTo(2));

        await Task.Delay(TimeSpan.FromSeconds(2));
        var after = await _acme.GetJsonAsync($"/v1/jobs/{jobId}");
        Assert.That(after["status"]!.GetValue<string>(), Is.EqualTo("failed"));
        Assert.That(after["updatedAt"]!.GetValue<DateTimeOffset>(), Is.EqualTo(failed["updatedAt"]!.GetValue<DateTimeOffset>()),
            "nothing moved the job");
        Assert.That(await CountAsync(dataset), Is.EqualTo(loaded), "no batch was loaded");
    }

    [TestCase("{\"maxRejectedRows\": 2}", "maxRejectedRows", TestName = "Should_refuse_a_row_limit_that_is_not_higher")]
    [TestCase("{\"maxRejectedRows\": -1}", "maxRejectedRows", TestName = "Should_refuse_a_negative_row_limit")]
    [TestCase("{\"maxRejectedRatio\": 1.5}", "maxRejectedRatio", TestName = "Should_refuse_a_ratio_above_one")]
    [TestCase("{\"maxRejectedRatio\": 0.5}", "maxRejectedRows", TestName = "Should_refuse_limits_the_rows_already_read_still_cross")]
    public async Task Should_refuse_limits_that_do_not_raise_the_one_crossed(string body, string field)
    {
        var (_, jobId, _) = await FailOnTheLimitAsync();

        using var retry = await _acme.PostAsync($"/v1/jobs/{jobId}/retry", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await retry.ProblemAsync();
        Assert.That(problem["errors"]?[field], Is.Not.Null, problem.ToJsonString());
    }

    [Test]
    public async Task Should_complete_against_raised_limits_with_the_table_and_rejects_file_exact()
    {
        var (dataset, jobId, failed) = await FailOnTheLimitAsync();
        Assert.That(failed["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(3));

        using var retry = await _acme.PostAsJsonAsync($"/v1/jobs/{jobId}/retry", new { maxRejectedRows = 10 });
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await retry.Content.ReadAsStringAsync());
        // It is still "failed" until the state machine takes the retry: wait for the end of the run it starts.
        var done = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");

        Assert.That(done["rejectLimits"]!["maxRejectedRows"]!.GetValue<long>(), Is.EqualTo(10), "the job shows the limits it ran to");
        var good = Enumerable.Range(1, Rows).Where(i => i % 400 != 0).ToArray();
        var entries = await TestRun.Shared.Sandbox.ScalarAsync<int[]>($"select array_agg(id order by id) from tenant_acme.{dataset}");
        Assert.That(entries, Is.EqualTo(good), "every good row once, nothing of the bad ones");
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(good.Length));
        Assert.That(done["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(BadLines.Length));
        var rejects = await Rejects.DownloadAsync(done["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(BadLines));
        Assert.That(rejects.Select(r => Encoding.UTF8.GetString(r.Record)), Is.All.EqualTo("x"));
    }

    [Test]
    public async Task Should_be_skipped_by_an_operators_bulk_retry_which_says_why()
    {
        var (_, jobId, failed) = await FailOnTheLimitAsync();
        using var ops = TestRun.Shared.Client(Keys.Ops);
        var failures = await ops.GetJsonAsync("/v1/ops/failures");
        var group = failures["groups"]!.AsArray()
            .Single(g => g!["jobs"]!.AsArray().Any(j => j!["jobId"]!.GetValue<Guid>() == jobId))!;

        using var retry = await ops.PostAsync(group["links"]!["retry"]!.GetValue<string>(), null);

        var body = JsonNode.Parse(await retry.Content.ReadAsStringAsync())!;
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
        Assert.That(body["jobIds"]!.AsArray().Select(j => j!.GetValue<Guid>()), Does.Not.Contain(jobId));
        var skipped = body["skipped"]!.AsArray().Single(j => j!["jobId"]!.GetValue<Guid>() == jobId)!;
        Assert.That(skipped["reason"]!.GetValue<string>(), Does.Contain("reject limit").And.Contain($"/v1/jobs/{jobId}/retry"));
        await Task.Delay(TimeSpan.FromSeconds(2));
        var after = await _acme.GetJsonAsync($"/v1/jobs/{jobId}");
        Assert.That(after["updatedAt"]!.GetValue<DateTimeOffset>(), Is.EqualTo(failed["updatedAt"]!.GetValue<DateTimeOffset>()),
            "the job was left as it was");
    }

    /// <summary>A file with a bad row every 400 lines, into a dataset that allows 2: it stops after the third.</summary>
    private async Task<(string Dataset, Guid JobId, JsonNode Failed)> FailOnTheLimitAsync()
    {
        var dataset = "capped_" + Guid.NewGuid().ToString("N")[..8];
        (await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = dataset, columns = new[] { new { name = "id", type = "integer" } }, maxRejectedRows = 2,
        })).EnsureSuccessStatusCode();
        var rows = Enumerable.Range(1, Rows).Select(i => i % 400 == 0 ? "x" : i.ToString(CultureInfo.InvariantCulture));
        var jobId = await _acme.StartUploadAsync(dataset, Encoding.UTF8.GetBytes("id\n" + string.Join('\n', rows) + "\n"));
        var failed = await _acme.WaitForJobEndAsync(jobId);
        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
        Assert.That(failed["error"]!["code"]!.GetValue<string>(), Is.EqualTo("reject_limit"));
        return (dataset, jobId, failed);
    }

    private static Task<long> CountAsync(string dataset) =>
        TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{dataset}");
}
