// What the page imports of Amplify: the Cognito calls that send an SMS, bundled by
// `just setup-amplify-sdk` into target/amplify-sdk/amplify.js.
export { Amplify } from "@aws-amplify/core";
export { signUp, resendSignUpCode, resetPassword } from "@aws-amplify/auth";
