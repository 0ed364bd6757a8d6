using Ingestion.Contracts;
using MassTransit;

namespace Ingestion.Platform.Messaging;

/// <summary>Every log line written while a job's message is consumed carries its JobId.</summary>
internal sealed class JobLogScopeFilter<T> : IFilter<ConsumeContext<T>>
    where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        if (context.Message is not IJobMessage message)
        {
            await next.Send(context);
            return;
        }

        using (Serilog.Context.LogContext.PushProperty("JobId", message.JobId))
        {
            await next.Send(context);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("jobLogScope");
}
