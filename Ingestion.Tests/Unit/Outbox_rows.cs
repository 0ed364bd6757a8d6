using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Outbox;

namespace Ingestion.Tests.Unit;

public sealed class Outbox_rows
{
    private const string Retry = "Ingestion.Contracts.Jobs.RetryJob";

    [Test]
    public void Should_read_a_contract_with_its_destination()
    {
        var job = Guid.NewGuid();

        var read = Outbox.TryRead(Retry, $$"""{"jobId": "{{job}}", "requestedBy": "ops"}""", "queue:upload-jobs", out var message, out var error);

        Assert.That(read, Is.True, error);
        Assert.That(message!.Message, Is.EqualTo(new RetryJob(job, "ops")));
        Assert.That(message.Type, Is.EqualTo(typeof(RetryJob)));
        Assert.That(message.Destination, Is.EqualTo(new Uri("exchange:upload-jobs")),
            "a queue: address, as rows from before quorum queues have, goes to the queue's exchange");
    }

    [Test]
    public void Should_keep_an_exchange_destination_as_it_is()
    {
        var read = Outbox.TryRead(Retry, $$"""{"jobId": "{{Guid.NewGuid()}}", "requestedBy": "ops"}""", "exchange:render-statement",
            out var message, out var error);

        Assert.That(read, Is.True, error);
        Assert.That(message!.Destination, Is.EqualTo(new Uri("exchange:render-statement")));
    }

    [TestCase("Ingestion.Contracts.Jobs.NoSuchCommand", """{"jobId": "5b0f3c7e-0000-4000-8000-000000000001"}""", "queue:upload-jobs",
        "is not a contract in Ingestion.Contracts")]
    [TestCase("System.String", "\"text\"", "queue:upload-jobs", "is not a contract in Ingestion.Contracts")]
    [TestCase("Ingestion.Contracts.IJobMessage", "{}", null, "is not a contract in Ingestion.Contracts")]
    [TestCase(Retry, """{"jobId": "not-a-guid", "requestedBy": "ops"}""", "queue:upload-jobs", "The body is not a RetryJob: ")]
    [TestCase(Retry, "[1, 2]", "queue:upload-jobs", "The body is not a RetryJob: ")]
    [TestCase(Retry, "null", "queue:upload-jobs", "The body is null")]
    [TestCase(Retry, """{"jobId": "5b0f3c7e-0000-4000-8000-000000000001"}""", "upload-jobs", "is not a broker address")]
    [TestCase(Retry, """{"jobId": "5b0f3c7e-0000-4000-8000-000000000001"}""", "http://example.com/", "is not a broker address")]
    public void Should_say_why_a_row_can_never_be_sent(string type, string body, string? destination, string why)
    {
        var read = Outbox.TryRead(type, body, destination, out var message, out var error);

        Assert.That(read, Is.False);
        Assert.That(message, Is.Null);
        Assert.That(error, Does.Contain(why));
    }
}
