using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Ingestion.Sample.Publisher;

var builder = Host.CreateApplicationBuilder(args);
builder.AddSampleSettings();
builder.AddIngestionClient();
builder.Services.AddHostedService<PublisherFlow>();
await builder.Build().RunAsync();
