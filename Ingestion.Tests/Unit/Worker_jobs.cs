using Ingestion.Platform.Jobs;
using Ingestion.Workers.Jobs;

namespace Ingestion.Tests.Unit;

/// <summary><c>Workers:Jobs</c>: the kinds of job a worker runs, every kind unless it names some.</summary>
public sealed class Worker_jobs
{
    [TestCase(null)]
    [TestCase("")]
    [TestCase("  ")]
    public void Should_run_every_kind_when_unset(string? setting)
    {
        var jobs = WorkerJobs.Parse(setting);

        Assert.That(jobs.Kinds, Is.EqualTo(JobKinds.All));
        Assert.That(jobs.RunsAll, Is.True);
    }

    [TestCase("upload", new[] { "upload" }, "upload")]
    [TestCase(" Statement , UPLOAD ", new[] { "upload", "statement" }, "upload and statement")]
    [TestCase("sync,index-build,sync", new[] { "sync", "index-build" }, "sync and index-build")]
    public void Should_run_the_kinds_it_names_in_any_order_or_case(string setting, string[] kinds, string logged)
    {
        var jobs = WorkerJobs.Parse(setting);

        Assert.That(jobs.Kinds.Select(k => k.Name), Is.EqualTo(kinds));
        Assert.That(jobs.RunsAll, Is.False);
        Assert.That(jobs.Runs(JobKinds.Named("upload")), Is.EqualTo(kinds.Contains("upload")));
        Assert.That(jobs.ToString(), Is.EqualTo(logged));
    }

    [TestCase("upload,statments", "Workers:Jobs names 'statments', which is not a kind of job: it takes upload, statement, sync or index-build, separated by commas.")]
    [TestCase("uploads;statements", "Workers:Jobs names 'uploads;statements', which is not a kind of job")]
    [TestCase("pdf, csv", "Workers:Jobs names 'pdf', 'csv', which are not kinds of job")]
    [TestCase(" , ,", "Workers:Jobs is ' , ,', which names no kind of job: name some of upload, statement, sync and index-build, separated by commas, or leave it unset for all of them.")]
    public void Should_refuse_a_setting_that_names_no_kind_or_one_that_does_not_exist(string setting, string message)
    {
        var refused = Assert.Throws<InvalidOperationException>(() => WorkerJobs.Parse(setting));

        Assert.That(refused!.Message, Does.StartWith(message));
    }
}
