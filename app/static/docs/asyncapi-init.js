// The AsyncAPI component on /asyncapi, fed this server's document.
(function () {
  const element = document.getElementById("asyncapi");
  window.AsyncApiStandalone.render(
    {
      schema: { url: element.dataset.schemaUrl, requestOptions: {} },
      config: {
        show: { sidebar: true, info: true, servers: true, operations: true, messages: true, schemas: true, errors: true },
        expand: { messageExamples: true },
        sidebar: { showServers: "byDefault", showOperations: "byDefault" },
      },
    },
    element,
  );
})();
