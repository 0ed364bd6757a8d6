using Ingestion.Contracts;
using Ingestion.Workers.Sagas;
using MassTransit;

namespace Ingestion.Workers.Limits;

/// <summary>Hands a job's command back to the queue it came from, at the back, for any worker to take.</summary>
internal static class Requeue
{
    /// <param name="pause">Held before sending, so a job whose tenant is at its limit does not spin through the queue.</param>
    public static async Task SendAsync<T>(ConsumeContext<T> context, TimeSpan pause)
        where T : class
    {
        if (pause > TimeSpan.Zero)
        {
            await Task.Delay(pause, context.CancellationToken);
        }

        var queue = await context.GetSendEndpoint(context.ReceiveContext.InputAddress);
        await queue.Send(context.Message, context.CancellationToken);
    }

    /// <summary>
    /// After a worker stopped for a cancel: if the job was retried meanwhile (it is back in
    /// <paramref name="queuedState"/>), the retry's message found the job still locked and stepped
    /// aside as a duplicate, so this message carries the job on.
    /// </summary>
    public static async Task IfRetriedAsync<T>(ConsumeContext<T> context, JobCancellation states, string queuedState)
        where T : class, IJobMessage
    {
        if (await states.StateAsync(context.Message.JobId, context.CancellationToken) == queuedState)
        {
            await SendAsync(context, TimeSpan.Zero);
        }
    }
}
